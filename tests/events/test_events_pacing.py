"""With events.send_interval_ms, a live listener of a fast job gets few writes, the latest step of each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from events_sse import read_events

from sfumato.testing import RequestBuilder, RunningServer, start_server

PACED_CONFIG = """
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0
[events]
send_interval_ms = 200
[[engines]]
id = "test-pattern"
kind = "test-pattern"
"""


@pytest.fixture(scope="module")
def paced_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("paced"), config=PACED_CONFIG, plugins=["test_pattern"])
    yield running
    running.stop()


def test_a_live_listener_gets_the_latest_step_of_each_write_and_a_replay_gets_all(paced_server):
    body = RequestBuilder().request_id("paced").prompt("p").size(16, 16).steps(60).extension("step_delay_ms", 20).build()
    handle = paced_server.post("/grpcgateway/asyncGenerate", body).json()
    live = read_events(paced_server.url, handle["asyncHandle"])
    steps = [event.data["step"] for event in live.named("step")]
    assert steps == sorted(steps) and steps[-1] == 60
    assert 3 <= len(steps) < 30, steps  # 1.2 s of steps at ≤ 5 writes a second
    ids = [event.id for event in live.events]
    assert ids == sorted(ids) and live.names()[-2:] == ["answer", "done"]
    replay = read_events(paced_server.url, "paced")
    assert [event.data["step"] for event in replay.named("step")] == list(range(1, 61))
    resumed = read_events(paced_server.url, "paced", last_event_id=ids[1])
    assert resumed.events[0].id > ids[1] and resumed.names()[-1] == "done"
