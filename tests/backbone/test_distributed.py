"""API replicas and engine workers over a real Valkey: the delivery guarantees, process by process."""

from __future__ import annotations

import base64
import concurrent.futures
import time

import httpx
import pytest

from sfumato.testing import RequestBuilder, parse_stream

GEN = "/grpcgateway/generate"


def request(seed: int = 1, samples: int = 1, engine: str = "test-pattern", **extensions) -> dict:
    builder = RequestBuilder().engine(engine).prompt("a lighthouse").size(64, 64).seeds(seed).samples(samples)
    for name, value in extensions.items():
        builder.extension(name, value)
    return builder.build()


def pngs(answers: list[dict]) -> dict[int, bytes]:
    return {answer["artifacts"][0].get("index", 0): base64.b64decode(answer["artifacts"][0]["binary"]) for answer in answers}


def poll(server, handle: dict, limit: float = 60) -> tuple[list[dict], dict]:
    answers: list[dict] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        response = server.post("/grpcgateway/asyncResult", handle)
        assert response.status_code == 200, response.text
        body = response.json()
        answers += body.get("answer", [])
        if body.get("complete"):
            return answers, body.get("status", {})
    raise AssertionError("the async job did not complete")


def test_generate_and_async_through_a_replica_and_a_worker(cluster):
    cluster.worker()
    replica = cluster.replica()
    cluster.wait_ready(replica)
    answers = replica.generate(request(seed=7, samples=3))
    assert sorted(pngs(answers)) == [0, 1, 2]
    assert [a["artifacts"][0]["seed"] for a in sorted(answers, key=lambda a: a["artifacts"][0].get("index", 0))] == [7, 8, 9]
    handle = replica.post("/grpcgateway/asyncGenerate", request(seed=7, samples=3)).json()
    async_answers, status = poll(replica, handle)
    assert status.get("code", 0) == 0
    assert pngs(async_answers) == pngs(answers)  # same seeds, same bytes, whichever path
    engines = replica.client().get("/grpcgateway/engines").json()["engine"]
    assert {e["id"]: e["ready"] for e in engines} == {"slow-pattern": True, "test-pattern": True}
