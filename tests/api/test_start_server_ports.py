"""The test harness's ``start_server`` starts again on new ports when one it picked was taken meanwhile."""

from __future__ import annotations

import socket

import pytest

from sfumato import testing
from sfumato.testing import start_server


def test_a_port_taken_between_picking_and_binding_is_replaced(tmp_path, monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        picks = iter([taken])  # the first pick (the HTTP port) is the busy one
        real = testing.free_port
        monkeypatch.setattr(testing, "free_port", lambda: next(picks, None) or real())
        server = start_server(tmp_path, plugins=["test_pattern"], wait_ready=False)
        try:
            assert not server.url.endswith(f":{taken}")
            assert server.client().get("/healthz").status_code == 200
        finally:
            server.stop()


def test_a_port_that_stays_taken_is_reported(tmp_path, monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("SFUMATO_GRPC_PORT", str(busy.getsockname()[1]))  # the caller's own choice
        with pytest.raises(RuntimeError, match=f"ports taken {testing.PORT_ATTEMPTS} times"):
            start_server(tmp_path, plugins=["test_pattern"], wait_ready=False)
