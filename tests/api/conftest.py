"""A real ``sfumato serve`` process with the test-pattern engine, shared by the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sfumato.testing import RunningServer, start_server

TEST_PATTERN_CONFIG = """
[server]
default_engine = "test-pattern"

[jobs]
queue_size = 6
async_retention_seconds = 600

[quotas]
# The suite sends many requests from one address; quotas have their own tests.
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[limits]
max_body_bytes = 8388608
max_input_pixels = 4194304
max_input_side = 4096

[[engines]]
id = "test-pattern"
kind = "test-pattern"
name = "Test pattern"
max_batch_size = 4
[engines.limits]
max_width = 1024
max_height = 1024
max_pixels = 1048576
max_steps = 150
max_samples = 8

[[engines]]
id = "slow-pattern"
kind = "test-pattern"
max_batch_size = 1
default_steps = 20
"""


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("server"), config=TEST_PATTERN_CONFIG, plugins=["test_pattern"])
    yield running
    running.stop()
