"""Engine faults fail only the affected jobs, with a clear status; the server keeps serving."""

from __future__ import annotations

import concurrent.futures

import pytest

from sfumato.testing import RequestBuilder, parse_stream


@pytest.mark.parametrize(
    ("fault", "status", "code", "words"),
    [
        ("error", 500, 13, ["fault injected"]),
        ("out_of_memory", 429, 8, ["out of memory"]),
        ("crash", 500, 13, ["ZeroDivisionError", "simulated plugin bug"]),
    ],
)
def test_fault_before_the_first_answer_is_a_plain_error(server, fault, status, code, words):
    response = server.post("/grpcgateway/generate", RequestBuilder().prompt("f").size(16, 16).extension("fail", fault).build())
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code and all(word in body["message"] for word in words)
    assert len(server.generate(RequestBuilder().prompt("after").size(16, 16).build())) == 1


def test_a_failing_job_does_not_fail_other_jobs(server):
    # slow-pattern runs one job per batch, so the failing job shares a batch with nobody
    good = RequestBuilder().engine("slow-pattern").prompt("good").size(16, 16).steps(3).extension("step_delay_ms", 10)
    bad = RequestBuilder().engine("slow-pattern").prompt("bad").size(16, 16).steps(3).extension("fail", "crash")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(server.post, "/grpcgateway/generate", body.build()) for body in (good, bad, good, good)]
        responses = [future.result() for future in futures]
    assert [response.status_code for response in responses] == [200, 500, 200, 200]
    assert len(server.generate(good.build())) == 1


def test_mid_stream_failure_ends_with_an_error_line(server):
    # slow-pattern runs one image per batch, so sample 0 is streamed before sample 1 fails
    body = (RequestBuilder().engine("slow-pattern").prompt("m").size(16, 16).steps(1).samples(3)
            .extension("fail", "error").extension("fail_index", 1).build())
    response = server.post("/grpcgateway/generate", body)
    assert response.status_code == 200
    answers, error = parse_stream(response.content)
    assert [a["artifacts"][0].get("index", 0) for a in answers] == [0]
    assert error == {"code": 13, "message": "test-pattern: fault injected by the 'fail' extension parameter", "details": []}
    assert response.content.endswith(b"}\n") and response.content.count(b"\n") == 2
