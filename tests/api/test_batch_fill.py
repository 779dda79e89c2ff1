"""Filling batches: clients answered by one batch come back one by one, and the first waits for the rest."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sfumato.jobs.scheduler import CLIENTS_RETURN_SECONDS
from sfumato.testing import RequestBuilder, RunningServer, start_server
from tests.api.conftest import TEST_PATTERN_CONFIG

# A long window, so a slow machine cannot turn "waited for company" into "started alone".
CONFIG = TEST_PATTERN_CONFIG.replace("[jobs]\n", "[jobs]\nbatch_window_ms = 400\n")


@pytest.fixture
def server(tmp_path) -> RunningServer:
    running = start_server(tmp_path, config=CONFIG, plugins=["test_pattern"])
    yield running
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
