"""One test-pattern server for the REST v1 tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_v1_support import CONFIG

from sfumato.testing import RunningServer, start_server


@pytest.fixture(scope="session")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("rest-v1"), config=CONFIG, plugins=["test_pattern"])
    yield running
    running.stop()
