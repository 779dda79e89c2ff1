"""GET /jobs/{id}/events over the backbone: any replica serves the same events, resumable, with previews."""

from __future__ import annotations

import base64
import io
import threading
import time

from events_sse import read_events
from PIL import Image

from sfumato.testing import RequestBuilder
from tests.backbone.conftest import REPLICA_CONFIG, WORKER_CONFIG, Cluster, cluster  # noqa: F401 - the fixture

PREVIEW_WORKER_CONFIG = WORKER_CONFIG + """
[events]
preview_min_interval_ms = 0
preview_max_side = 48
"""
REPLICA_EVENTS_CONFIG = REPLICA_CONFIG + """
[events]
heartbeat_seconds = 0.5
send_interval_ms = 0
"""


def _job(steps: int = 4, delay: int = 30, samples: int = 1, size: int = 32, request_id: str | None = None, **extensions) -> dict:
    builder = (RequestBuilder().engine("test-pattern").prompt("backbone events").size(size, size).steps(steps)
               .samples(samples).seeds(11).extension("step_delay_ms", delay))
    for name, value in extensions.items():
        builder = builder.extension(name, value)
    if request_id:
        builder = builder.request_id(request_id)
    return builder.build()


def _start(cluster: Cluster, worker_config: str = WORKER_CONFIG):
    cluster.worker(config=worker_config)
    first = cluster.replica(config=REPLICA_EVENTS_CONFIG)
    second = cluster.replica(config=REPLICA_EVENTS_CONFIG)
    cluster.wait_ready(first)
    return first, second


def _submit(replica, body) -> dict:
    response = replica.post("/grpcgateway/asyncGenerate", body)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_replica_serves_the_same_events_in_order(cluster):
    first, second = _start(cluster)
    handle = _submit(first, _job(steps=4, samples=2, request_id="bb-order"))
    here = read_events(first.url, handle["asyncHandle"])
    names = here.names()
    assert names[0] == "queued" and names[-1] == "done", names
    assert here.named("queued")[0].data == {"position": 0, "estimatedStartSeconds": None}
    assert here.named("started")[0].data == {"engine": "test-pattern", "batchSize": 2}
    assert [s.data["step"] for s in here.named("step")] == [1, 2, 3, 4]  # both images in one batch
    assert sorted(a.data["answerId"] for a in here.named("answer")) == ["bb-order-0", "bb-order-1"]
    ids = [event.id for event in here.events]
    assert ids == list(range(1, len(ids) + 1))
    there = read_events(second.url, "bb-order")  # the other replica, by requestId
    assert [(e.id, e.name, e.data) for e in there.events] == [(e.id, e.name, e.data) for e in here.events]
    resumed = read_events(second.url, handle["asyncHandle"], last_event_id=ids[2])
    assert [e.id for e in resumed.events] == ids[3:]


def test_a_live_stream_on_another_replica_follows_the_job(cluster):
    first, second = _start(cluster)
    handle = _submit(first, _job(steps=8, delay=80))
    received = read_events(second.url, handle["asyncHandle"])
    assert received.names()[-1] == "done"
    assert len(received.named("step")) == 8
    assert received.comments, "the first ping comes at once"


def test_cancel_over_the_backbone_ends_with_cancelled(cluster):
    first, second = _start(cluster)
    handle = _submit(first, _job(steps=100, delay=50))
    result: dict = {}
    reader = threading.Thread(target=lambda: result.update(r=read_events(second.url, handle["asyncHandle"])))
    reader.start()
    time.sleep(1.0)
    assert second.post("/grpcgateway/asyncCancel", handle).status_code == 200
    reader.join(30)
    received = result["r"]
    assert received.names()[-1] == "error", received.names()
    assert received.events[-1].data["code"] == 1


def test_a_failing_job_ends_with_its_error(cluster):
    first, _ = _start(cluster)
    handle = _submit(first, _job(steps=3, fail="error"))
    received = read_events(first.url, handle["asyncHandle"])
    assert received.names()[-1] == "error"
    assert received.events[-1].data["code"] == 13


def test_previews_travel_over_the_backbone_only_when_asked(cluster):
    first, second = _start(cluster, PREVIEW_WORKER_CONFIG)
    handle = _submit(first, _job(steps=12, delay=100, size=96))
    received = read_events(second.url, handle["asyncHandle"], previews=True)
    previews = received.named("preview")
    assert previews, received.names()
    for preview in previews:
        image = Image.open(io.BytesIO(base64.b64decode(preview.data["image"])))
        assert image.format == "JPEG" and image.size == (48, 48) == (preview.data["width"], preview.data["height"])
    plain = read_events(first.url, handle["asyncHandle"])
    assert not plain.named("preview")
    quiet = _submit(first, _job(steps=6, delay=30))
    assert not read_events(first.url, quiet["asyncHandle"], previews=False).named("preview")
    # Nobody asked for previews of that one: none were written to its stream either.
    stream = cluster.valkey.client().xrange(f"sfumato:job:{quiet['asyncHandle']}:progress")
    assert all(fields[b"n"] != b"preview" for _, fields in stream)


def test_another_client_gets_404(cluster):
    cluster.worker()
    cluster.wait_ready(cluster.replica(config=REPLICA_EVENTS_CONFIG))  # /plugins of the keyed one needs a key
    keyed = cluster.replica(config=REPLICA_EVENTS_CONFIG, env={"SFUMATO_API_KEYS": "bb-a,bb-b"})
    keyed.api_key = "bb-a"
    deadline = time.monotonic() + 30
    while (response := keyed.post("/grpcgateway/asyncGenerate", _job(steps=2, request_id="bb-owned"))).status_code != 200:
        assert time.monotonic() < deadline, response.text  # until this replica has seen the worker's engines
        time.sleep(0.2)
    handle = response.json()
    assert read_events(keyed.url, handle["asyncHandle"], api_key="bb-a").names()[-1] == "done"
    for job in (handle["asyncHandle"], "bb-owned"):
        other = read_events(keyed.url, job, api_key="bb-b")
        assert other.status == 404 and '"code":5' in other.body.replace(" ", "")
