"""A real server with the test-pattern engine and two API keys, for the events tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sfumato.testing import RunningServer, start_server

KEY_A = "events-key-a"
KEY_B = "events-key-b"

EVENTS_CONFIG = """
[server]
default_engine = "test-pattern"

[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[events]
heartbeat_seconds = 0.3
send_interval_ms = 0  # every event as it comes: the tests check each step (pacing has its own test)
preview_every_steps = 1
preview_min_interval_ms = 0
preview_max_side = 64
retention_seconds = 600

[[engines]]
id = "test-pattern"
kind = "test-pattern"
max_batch_size = 1
"""


@pytest.fixture(scope="session")
def events_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("events-server"),
        config=EVENTS_CONFIG,
        plugins=["test_pattern"],
        env={"SFUMATO_API_KEYS": f"{KEY_A},{KEY_B}"},
        api_key=None,
    )
    running.api_key = KEY_A
    yield running
    running.stop()
