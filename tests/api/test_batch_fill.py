"""Filling batches: clients answered by one batch come back one by one, and the first waits for the rest."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sfumato.jobs.scheduler import CLIENTS_RETURN_SECONDS, FILL_WINDOWS
from sfumato.testing import RequestBuilder, RunningServer, start_server
from tests.api.conftest import TEST_PATTERN_CONFIG

# A long window, so a slow machine cannot turn "waited for company" into "started alone".
CONFIG = TEST_PATTERN_CONFIG.replace("[jobs]\n", "[jobs]\nbatch_window_ms = 400\n")




def _config(window_ms: int, max_batch_size: int = 4) -> str:
    return TEST_PATTERN_CONFIG.replace("[jobs]\n", f"[jobs]\nbatch_window_ms = {window_ms}\n").replace(
        "max_batch_size = 4", f"max_batch_size = {max_batch_size}").replace("queue_size = 6", "queue_size = 16")


@pytest.fixture
def server(tmp_path) -> RunningServer:
    running = start_server(tmp_path, config=CONFIG, plugins=["test_pattern"])
    yield running
    running.stop()


@pytest.fixture
def make_server(tmp_path):
    started: list[RunningServer] = []

    def make(window_ms: int, max_batch_size: int = 4) -> RunningServer:
        started.append(start_server(tmp_path, config=_config(window_ms, max_batch_size), plugins=["test_pattern"]))
        return started[-1]

    yield make
    for running in started:
        running.stop()


def _batches(server: RunningServer) -> tuple[int, int]:
    """(batches run, images in them) on the test-pattern engine so far."""
    with server.client() as client:
        text = client.get("/metrics").text
    count = re.search(r'sfumato_batch_size_count\{engine="test-pattern"\} (\S+)', text)
    total = re.search(r'sfumato_batch_size_sum\{engine="test-pattern"\} (\S+)', text)
    return (int(float(count.group(1))), int(float(total.group(1)))) if count and total else (0, 0)


def _quick(seed: int) -> dict:
    return RequestBuilder().size(64, 64).steps(1).seeds(seed).build()


def _queue_ms(server: RunningServer, seed: int) -> float:
    """Generate one quick image; how long it waited in the queue (its Server-Timing)."""
    response = server.post("/grpcgateway/generate", _quick(seed))
    assert response.status_code == 200, response.text[:300]
    return float(re.search(r"queue;dur=([0-9.]+)", response.headers["server-timing"]).group(1))


def _shared_batch(server: RunningServer, pool: ThreadPoolExecutor, jobs: int) -> tuple[int, int]:
    """``jobs`` quick requests queue behind a slow one and share one batch; the batch counts after."""
    slow = RequestBuilder().size(64, 64).steps(1).extension("step_delay_ms", 400).build()
    busy = pool.submit(server.generate, slow)
    time.sleep(0.1)
    before = _batches(server)
    shared = [pool.submit(server.generate, _quick(seed)) for seed in range(100, 100 + jobs)]
    for future in shared:
        future.result(timeout=30)
    busy.result(timeout=30)
    after = _batches(server)
    assert (after[0] - before[0], after[1] - before[1]) == (2, jobs + 1)  # the slow one, then the shared one
    return after


def _return_apart(server: RunningServer, pool: ThreadPoolExecutor, seeds: range, gap: float) -> list[float]:
    """The clients come back ``gap`` seconds apart; the queue time of each."""
    futures = []
    for seed in seeds:
        futures.append(pool.submit(_queue_ms, server, seed))
        time.sleep(gap)
    return [future.result(timeout=30) for future in futures]


def _two_apart(server: RunningServer, pool: ThreadPoolExecutor, first: int, second: int) -> None:
    """Two compatible requests, the second 100 ms after the first."""
    a = pool.submit(server.generate, _quick(first))
    time.sleep(0.1)
    b = pool.submit(server.generate, _quick(second))
    a.result(timeout=30), b.result(timeout=30)


def test_a_lone_request_after_a_shared_batch_waits_for_the_others_and_an_idle_one_does_not(server):
    slow = RequestBuilder().size(64, 64).steps(1).extension("step_delay_ms", 300).build()
    with ThreadPoolExecutor(4) as pool:
        # Two quick jobs queue behind a slow one and then share one batch.
        busy = pool.submit(server.generate, slow)
        time.sleep(0.1)
        before = _batches(server)
        shared = [pool.submit(server.generate, _quick(seed)) for seed in (1, 2)]
        for future in shared:
            future.result(timeout=30)
        busy.result(timeout=30)
        after_shared = _batches(server)
        assert (after_shared[0] - before[0], after_shared[1] - before[1]) == (2, 3)  # the slow one, then 1 + 2

        # Their clients come back at once, 100 ms apart: one batch of two, not two of one.
        _two_apart(server, pool, 3, 4)
        after_return = _batches(server)
        assert (after_return[0] - after_shared[0], after_return[1] - after_shared[1]) == (1, 2)

        # After a pause (over CLIENTS_RETURN_SECONDS) the server is idle: a lone request starts at
        # once, so the two make two batches of one.
        time.sleep(CLIENTS_RETURN_SECONDS + 0.5)
        _two_apart(server, pool, 5, 6)
        after_idle = _batches(server)
        assert (after_idle[0] - after_return[0], after_idle[1] - after_return[1]) == (2, 2)


def test_returning_clients_further_apart_than_one_window_in_all_still_share_a_batch(make_server):
    # Each arrival gives the next one another window: three clients 150 ms apart (300 ms in all)
    # make one batch under a 250 ms window.
    server = make_server(250)
    with ThreadPoolExecutor(6) as pool:
        after_shared = _shared_batch(server, pool, 3)
        _return_apart(server, pool, range(3), 0.15)
        after_return = _batches(server)
    assert (after_return[0] - after_shared[0], after_return[1] - after_shared[1]) == (1, 3)


def test_the_first_returning_client_waits_only_until_the_others_are_back(server):
    # Two clients were served together; once both are back their batch starts, without waiting
    # out the window (400 ms) for a full batch of four.
    with ThreadPoolExecutor(4) as pool:
        after_shared = _shared_batch(server, pool, 2)
        first, _ = _return_apart(server, pool, range(2), 0.1)
        after_return = _batches(server)
    assert (after_return[0] - after_shared[0], after_return[1] - after_shared[1]) == (1, 2)
    assert first < 300, f"the first returning client waited {first} ms"


def test_the_wait_for_returning_clients_is_bounded(make_server):
    # Eight clients trickle back 200 ms apart under a 300 ms window: the first batch starts when
    # FILL_WINDOWS windows have passed, with the clients back by then, not when the last is back.
    window_ms = 300
    server = make_server(window_ms, max_batch_size=8)
    with ThreadPoolExecutor(10) as pool:
        after_shared = _shared_batch(server, pool, 8)
        waits = _return_apart(server, pool, range(8), 0.2)
        after_return = _batches(server)
    bound = FILL_WINDOWS * window_ms
    assert bound - 150 <= waits[0] <= bound + 150, waits
    assert after_return[0] - after_shared[0] >= 2, "the last clients came back after the bound: a second batch"
    assert after_return[1] - after_shared[1] == 8
