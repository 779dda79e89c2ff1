"""API replicas and engine workers over a real Valkey: the delivery guarantees, process by process."""

from __future__ import annotations

import base64
import concurrent.futures
import time

import httpx
import pytest

from sfumato.testing import RequestBuilder, free_port
from tests.backbone.conftest import REPLICA_CONFIG, WORKER_CONFIG, describe

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


def slow_request(samples: int = 8, steps: int = 10, delay_ms: int = 100, seed: int = 3, request_id: str | None = None) -> dict:
    builder = (RequestBuilder().engine("slow-pattern").prompt("slow").size(32, 32).seeds(seed).samples(samples)
               .steps(steps).extension("step_delay_ms", delay_ms))
    if request_id:
        builder.request_id(request_id)
    return builder.build()


def test_two_replicas_share_jobs_async_handles_and_cancels(cluster):
    cluster.worker()
    cluster.worker()
    a, b = cluster.replica(), cluster.replica()
    cluster.wait_ready(a, workers=2)
    cluster.wait_ready(b, engine="slow-pattern", workers=2)
    assert pngs(a.generate(request(seed=5))) == pngs(b.generate(request(seed=5)))
    handle = a.post("/grpcgateway/asyncGenerate", request(seed=5, samples=2)).json()
    answers, status = poll(b, handle)  # accepted on A, fetched from B
    assert len(answers) == 2 and status.get("code", 0) == 0
    assert b.post("/grpcgateway/asyncResult", handle).status_code == 404  # delivered once, on any replica
    # a long job accepted on B, cancelled on A, stops within a step
    slow = b.post("/grpcgateway/asyncGenerate", slow_request(samples=2, steps=150, delay_ms=50)).json()
    time.sleep(0.5)
    began = time.monotonic()
    assert a.post("/grpcgateway/asyncCancel", slow).json() == {}
    told = b.post("/grpcgateway/asyncResult", slow).json()
    assert told["complete"] and told["status"]["code"] == 1, told
    assert time.monotonic() - began < 2.0
    assert a.post("/grpcgateway/asyncResult", slow).status_code == 404


def test_concurrent_pollers_on_two_replicas_get_each_answer_once(cluster):
    cluster.worker()
    a, b = cluster.replica(), cluster.replica()
    cluster.wait_ready(a, engine="slow-pattern")
    handle = a.post("/grpcgateway/asyncGenerate", slow_request(samples=8, steps=4, delay_ms=30)).json()

    def poller(server) -> tuple[list[int], bool]:
        indices, complete = [], False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = server.post("/grpcgateway/asyncResult", handle)
            if response.status_code == 404:
                break  # another poller saw the end
            body = response.json()
            indices += [answer["artifacts"][0].get("index", 0) for answer in body.get("answer", [])]
            if body.get("complete"):
                complete = True
                break
        return indices, complete

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(poller, [a, b, a, b]))
    delivered = [index for indices, _ in outcomes for index in indices]
    assert sorted(delivered) == list(range(8))  # every answer once, none twice
    assert sum(complete for _, complete in outcomes) == 1


def test_a_worker_killed_mid_batch_loses_and_repeats_nothing(cluster):
    first, second = cluster.worker(), cluster.worker()
    replica = cluster.replica()
    cluster.wait_ready(replica, engine="slow-pattern", workers=2)
    body = slow_request(samples=8, steps=5, delay_ms=100)  # four batches of two, 0.5 s each
    handle = replica.post("/grpcgateway/asyncGenerate", body).json()
    valkey = cluster.valkey.client()
    deadline = time.monotonic() + 20
    while not (owner := valkey.hget(f"sfumato:job:{handle['asyncHandle']}", "worker")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert owner, "no worker took the job"
    running = first if f"-{first.process.pid}-" in owner.decode() else second
    time.sleep(0.8)  # the first batch is published, the second is under way
    progress = valkey.hmget(f"sfumato:job:{handle['asyncHandle']}", "step", "total_steps")
    assert progress[1] == b"5" and 1 <= int(progress[0]) <= 5  # the worker publishes its sampler steps
    assert "(step " in describe(cluster.valkey.url)
    running.kill()
    answers, status = poll(replica, handle, limit=90)
    assert status.get("code", 0) == 0, status
    indices = [answer["artifacts"][0].get("index", 0) for answer in answers]
    assert sorted(indices) == list(range(8))  # each image exactly once
    reference = pngs(replica.generate(body))  # an uninterrupted run: the same bytes
    assert pngs(answers) == reference


def test_jobs_survive_a_replica_restart_and_a_backbone_restart(cluster):
    replica = cluster.replica()
    handles = [replica.post("/grpcgateway/asyncGenerate", request(seed=s)).status_code for s in (1,)]
    # no worker has ever served the engine: it is unknown
    assert handles == [404]
    worker = cluster.worker()
    cluster.wait_ready(replica)
    worker.stop()  # a clean stop deregisters it; the engine stays known
    time.sleep(1.2)  # the replica refreshes its view every half heartbeat
    listed = {e["id"]: e.get("ready", False) for e in replica.client().get("/grpcgateway/engines").json()["engine"]}
    assert listed == {"slow-pattern": False, "test-pattern": False}
    response = replica.post("/grpcgateway/asyncGenerate", request(seed=1))
    assert response.status_code == 503 and "no live worker" in response.json()["message"]
    # a worker that keeps nothing: jobs queue while workers come and go
    cluster.worker()
    cluster.wait_ready(replica)
    cluster.workers[-1].stop()
    handles = []
    deadline = time.monotonic() + 10
    while len(handles) < 3 and time.monotonic() < deadline:
        response = replica.post("/grpcgateway/asyncGenerate", request(seed=len(handles) + 1))
        if response.status_code == 200:
            handles.append(response.json())
    replica.stop()
    cluster.valkey.restart()  # AOF on: the queue and the handles come back
    fresh = cluster.replica()
    cluster.worker()
    cluster.wait_ready(fresh)
    for handle in handles:
        answers, status = poll(fresh, handle)
        assert len(answers) == 1 and status.get("code", 0) == 0


def test_resubmitting_a_request_id_returns_the_same_job(cluster):
    cluster.worker()
    a, b = cluster.replica(), cluster.replica()
    cluster.wait_ready(a)
    body = request(seed=11, samples=2)
    body["requestId"] = "once-only"
    first = a.post("/grpcgateway/asyncGenerate", body).json()
    again = b.post("/grpcgateway/asyncGenerate", body).json()
    assert first["asyncHandle"] == again["asyncHandle"]
    answers, _ = poll(a, first)
    streamed = b.generate(body)  # Generate with the same requestId: the same job's answers, not a new run
    assert pngs(streamed) == pngs(answers)


def test_a_job_that_kills_its_workers_ends_after_max_attempts(cluster):
    replica = cluster.replica()
    cluster.worker()
    cluster.wait_ready(replica)
    handle = replica.post("/grpcgateway/asyncGenerate", request(fail="kill_process")).json()
    deadline = time.monotonic() + 60
    restarts = 0
    while time.monotonic() < deadline:  # a supervisor: restart every worker that dies
        for worker in list(cluster.workers):
            if worker.process.poll() is not None:
                cluster.workers.remove(worker)
                cluster.worker()
                restarts += 1
        response = replica.post("/grpcgateway/asyncResult", handle).json()
        if response.get("complete"):
            break
    assert response.get("complete"), "the poison job never ended"
    assert response["status"]["code"] == 13
    assert "its worker died" in response["status"]["message"] and "queue.max_attempts" in response["status"]["message"]
    assert restarts >= 2
    assert len(replica.generate(request(seed=2))) == 1  # the engine serves other jobs


def test_an_engine_that_fails_to_load_on_every_worker_is_unavailable(cluster):
    config = WORKER_CONFIG_WITH_BROKEN_MODEL
    cluster.worker(config=config, plugins="test_pattern,diffusers,adjustments")
    replica = cluster.replica()
    cluster.wait_ready(replica, timeout=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        report = {e["id"]: e for e in replica.client().get("/plugins").json()["engines"]}
        if report.get("broken", {}).get("error"):
            break
        time.sleep(0.2)
    response = replica.post("/grpcgateway/generate", request(engine="broken"))
    assert response.status_code == 503 and "failed to load" in response.json()["message"], response.text
    assert len(replica.generate(request())) == 1


WORKER_CONFIG_WITH_BROKEN_MODEL = """
[queue]
heartbeat_seconds = 0.5

[[engines]]
id = "test-pattern"
kind = "test-pattern"

[[engines]]
id = "broken"
kind = "diffusers"
model = "/nonexistent/model"
"""


def test_the_replica_never_imports_torch(cluster):
    """With the diffusers plugin installed and loaded, a replica still maps no torch library."""
    replica = cluster.replica(plugins=("test_pattern", "diffusers"))
    cluster.worker()
    cluster.wait_ready(replica)
    replica.generate(request())
    with open(f"/proc/{replica.process.pid}/maps") as maps:
        assert "torch" not in maps.read()
    assert "diffusers" in {p["name"] for p in replica.client().get("/plugins").json()["plugins"]}


def test_readyz_and_metrics_of_a_replica_and_a_worker(cluster):
    replica = cluster.replica()
    assert httpx.get(replica.url + "/readyz").status_code == 503  # no worker yet
    port = free_port()
    cluster.worker(args=("--metrics-port", str(port)))
    cluster.wait_ready(replica)
    deadline = time.monotonic() + 10
    while httpx.get(replica.url + "/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    metrics = httpx.get(replica.url + "/metrics").text
    assert "sfumato_live_workers 1.0" in metrics
    assert 'sfumato_backbone_queue_depth{engine="test-pattern"}' in metrics
    replica.generate(request())
    worker_metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert 'sfumato_images_total{engine="test-pattern"} 1.0' in worker_metrics


def test_a_generate_client_that_goes_away_cancels_its_job_on_the_worker(cluster):
    cluster.worker()
    replica = cluster.replica()
    cluster.wait_ready(replica, engine="slow-pattern")
    body = slow_request(samples=1, steps=150, delay_ms=50)
    body["requestId"] = "walks-away"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(replica.url + GEN, json=body, timeout=0.8)
    valkey = cluster.valkey.client()
    job_id = valkey.get("sfumato:request:addr:127.0.0.1:walks-away").decode()
    deadline = time.monotonic() + 5
    while valkey.hget(f"sfumato:job:{job_id}", "code") is None:
        assert time.monotonic() < deadline, "the job kept running after its client left"
        time.sleep(0.05)
    assert valkey.hget(f"sfumato:job:{job_id}", "code") == b"1"


def test_the_queue_bound_holds_across_replicas(cluster):
    config = WORKER_CONFIG.replace("max_batch_size = 2", "max_batch_size = 1")
    cluster.worker(config=config)
    replica_config = REPLICA_CONFIG.replace("queue_size = 16", "queue_size = 3")
    a, b = cluster.replica(config=replica_config), cluster.replica(config=replica_config)
    cluster.wait_ready(a, engine="slow-pattern")
    accepted, refused = [], 0
    for index in range(16):
        server = (a, b)[index % 2]
        # 1.5 s a job: none finishes while the sixteen requests go out, even on a loaded machine
        response = server.post("/grpcgateway/asyncGenerate", slow_request(samples=1, steps=30, delay_ms=50, seed=index))
        if response.status_code == 200:
            accepted.append(response.json())
        else:
            assert response.status_code == 429 and response.headers["retry-after"]
            assert "engine 'slow-pattern' is full" in response.json()["message"]
            refused += 1
    # the worker holds two (one running, one ready), the backbone three: the rest are refused
    assert refused >= 8 and 3 <= len(accepted) <= 6
    for handle in accepted:
        answers, status = poll(a, handle)
        assert len(answers) == 1 and status.get("code", 0) == 0  # nothing accepted is lost


def test_credentials_never_show(cluster, tmp_path):
    valkey = cluster.valkey
    valkey.require_password("s3cret-pass")
    url = valkey.url
    cluster.worker()
    replica = cluster.replica()
    cluster.wait_ready(replica)
    report = replica.client().get("/plugins").json()
    assert report["backbone"]["url"] == f"redis://:***@127.0.0.1:{valkey.port}/0"
    assert report["backbone"]["workers"]
    replica.generate(request())
    listing = describe(url)
    assert "1 live worker(s)" in listing and "engine test-pattern: ready" in listing
    for text in (str(report), replica.log(), cluster.workers[0].log(), listing):
        assert "s3cret-pass" not in text
