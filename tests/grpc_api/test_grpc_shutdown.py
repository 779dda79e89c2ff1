"""On SIGTERM a running gRPC call still gets its images (within jobs.shutdown_grace_seconds)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc

from sfumato.proto import generation_pb2_grpc
from sfumato.testing import start_server

from .conftest import BINARY_CONFIG, text_request


def test_a_running_call_finishes_during_shutdown(tmp_path: Path) -> None:
    server = start_server(tmp_path, config=BINARY_CONFIG, plugins=["test_pattern"])
    request = text_request(engine="slow-pattern", steps=20)
    request.image.extension.parameters.add(name="step_delay_ms", int=75)  # 1.5 s
    answers: list = []
    failure: list = []

    def call() -> None:
        try:
            with grpc.insecure_channel(server.grpc_target) as channel:
                answers.extend(generation_pb2_grpc.GenerationServiceStub(channel).Generate(request, timeout=60))
        except grpc.RpcError as error:  # reported below
            failure.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 10
    while "slow-pattern" not in server.client().get("/metrics").text.split("sfumato_queue_wait", 1)[-1]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    try:
        server.stop()  # SIGTERM: uvicorn shuts down, then re-raises the signal (exit status -15)
    finally:
        caller.join(30)
    assert not failure, failure
    assert len(answers) == 1 and answers[0].artifacts[0].binary
    assert "gRPC listening" in server.log() and "Traceback" not in server.log()
