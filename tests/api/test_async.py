"""AsyncGenerate / AsyncResult / AsyncCancel semantics (API.md §7)."""

from __future__ import annotations

import concurrent.futures
import time

from sfumato.testing import RequestBuilder


def start(server, body) -> dict:
    response = server.post("/grpcgateway/asyncGenerate", body)
    assert response.status_code == 200, response.text
    handle = response.json()
    assert set(handle) == {"requestId", "asyncHandle"}
    return handle


def poll_until_complete(server, handle, limit=30.0) -> tuple[list[dict], dict]:
    answers: list[dict] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        result = server.post("/grpcgateway/asyncResult", handle).json()
        answers += result.get("answer", [])
        if result.get("complete"):
            return answers, result.get("status", {})
    raise AssertionError("job did not complete")


def test_async_flow_delivers_every_answer_once_then_forgets_the_handle(server):
    handle = start(server, RequestBuilder().request_id("async-1").prompt("a").size(32, 32).samples(3).seeds(1).build())
    assert handle["requestId"] == "async-1"
    answers, status = poll_until_complete(server, handle)
    assert [a["answerId"] for a in answers] == ["async-1-0", "async-1-1", "async-1-2"]
    assert status.get("code", 0) == 0
    gone = server.post("/grpcgateway/asyncResult", handle)
    assert gone.status_code == 404 and gone.json()["code"] == 5


def test_concurrent_pollers_never_receive_an_answer_twice(server):
    body = (RequestBuilder().prompt("c").size(32, 32).samples(6).seeds(100).extension("step_delay_ms", 5).steps(4).build())
    handle = start(server, body)

    def poller() -> list[str]:
        seen = []
        for _ in range(400):
            response = server.post("/grpcgateway/asyncResult", handle)
            if response.status_code == 404:
                return seen
            result = response.json()
            seen += [a["answerId"] for a in result.get("answer", [])]
            if result.get("complete"):
                return seen
        return seen

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: poller(), range(4)))
    delivered = [answer for seen in results for answer in seen]
    assert sorted(delivered) == sorted(f"{handle['requestId']}-{n}" for n in range(6))


def test_async_result_waits_briefly_when_nothing_is_ready(server):
    handle = start(server, RequestBuilder().engine("slow-pattern").prompt("s").size(16, 16).steps(20)
                   .extension("step_delay_ms", 100).build())
    began = time.monotonic()
    result = server.post("/grpcgateway/asyncResult", handle).json()
    waited = time.monotonic() - began
    assert result == {} or not result.get("answer")
    assert 0.3 < waited < 1.5
    assert server.post("/grpcgateway/asyncCancel", handle).json() == {}


def test_cancel_running_job_stops_it_and_forgets_the_handle(server):
    handle = start(server, RequestBuilder().engine("slow-pattern").prompt("r").size(16, 16).steps(50)
                   .extension("step_delay_ms", 50).build())
    time.sleep(0.3)
    began = time.monotonic()
    assert server.post("/grpcgateway/asyncCancel", handle).status_code == 200
    assert time.monotonic() - began < 0.5
    # The next AsyncResult says it was cancelled, once; then the handle is gone.
    told = server.post("/grpcgateway/asyncResult", handle).json()
    assert told["complete"] is True and not told.get("answer")
    assert told["status"]["code"] == 1 and "cancelled by AsyncCancel" in told["status"]["message"]
    assert server.post("/grpcgateway/asyncResult", handle).status_code == 404
    assert server.post("/grpcgateway/asyncCancel", handle).status_code == 404
    # the worker is free again: a new job on the same engine finishes quickly
    quick = start(server, RequestBuilder().engine("slow-pattern").prompt("q").size(16, 16).steps(2).build())
    answers, status = poll_until_complete(server, quick, limit=10)
    assert len(answers) == 1 and status.get("code", 0) == 0


def test_cancel_queued_job_is_immediate(server):
    slow = RequestBuilder().engine("slow-pattern").prompt("busy").size(16, 16).steps(30).extension("step_delay_ms", 50).build()
    running = start(server, slow)
    queued = start(server, RequestBuilder().engine("slow-pattern").prompt("waiting").size(16, 16).steps(2).build())
    assert server.post("/grpcgateway/asyncCancel", queued).status_code == 200
    assert server.post("/grpcgateway/asyncResult", queued).json()["status"]["code"] == 1
    assert server.post("/grpcgateway/asyncResult", queued).status_code == 404
    server.post("/grpcgateway/asyncCancel", running)


def test_full_queue_answers_resource_exhausted_and_loses_nothing_accepted(server):
    slow = RequestBuilder().engine("slow-pattern").prompt("fill").size(16, 16).steps(10).extension("step_delay_ms", 20)
    accepted, refused = [], 0
    for _ in range(12):
        response = server.post("/grpcgateway/asyncGenerate", slow.build())
        if response.status_code == 200:
            accepted.append(response.json())
        else:
            assert response.status_code == 429 and response.json()["code"] == 8
            assert "queue" in response.json()["message"]
            assert response.headers.get("retry-after")
            refused += 1
    assert refused > 0 and len(accepted) >= 6
    for handle in accepted:
        answers, status = poll_until_complete(server, handle, limit=60)
        assert len(answers) == 1 and status.get("code", 0) == 0


def test_engine_failure_is_reported_in_status(server):
    handle = start(server, RequestBuilder().prompt("f").size(16, 16).extension("fail", "error").build())
    answers, status = poll_until_complete(server, handle)
    assert answers == [] and status["code"] == 13 and "fault injected" in status["message"]
