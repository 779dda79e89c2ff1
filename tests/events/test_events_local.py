"""GET /jobs/{id}/events on one process: order, payloads, resume, owners, replay, errors, previews."""

from __future__ import annotations

import base64
import io
import threading
import time

import httpx
import numpy as np
from conftest import KEY_A, KEY_B
from events_sse import read_events
from PIL import Image

from sfumato.testing import RequestBuilder


def _async(server, body, key=KEY_A) -> dict:
    response = httpx.post(f"{server.url}/grpcgateway/asyncGenerate", json=body,
                          headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _slow(steps=5, delay=20, samples=1, request_id=None, size=(32, 32), **extensions):
    builder = RequestBuilder().prompt("events").size(*size).steps(steps).samples(samples).seeds(7)
    builder = builder.extension("step_delay_ms", delay)
    for name, value in extensions.items():
        builder = builder.extension(name, value)
    if request_id:
        builder = builder.request_id(request_id)
    return builder.build()


def test_events_come_in_order_with_the_promised_payloads(events_server):
    handle = _async(events_server, _slow(steps=5, samples=2, request_id="order-1"))
    received = read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A)
    assert received.status == 200 and received.content_type.startswith("text/event-stream")
    names = received.names()
    assert names[0] == "queued" and names[-1] == "done", names
    assert names.index("started") < names.index("step") < names.index("answer")
    ids = [event.id for event in received.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] >= 1
    queued = received.named("queued")[0].data
    assert set(queued) == {"position", "estimatedStartSeconds"} and queued["position"] >= 0
    assert received.named("started")[0].data == {"engine": "test-pattern", "batchSize": 2}
    steps = received.named("step")
    # max_batch_size 1: each image is its own batch of 5 steps.
    assert [s.data["step"] for s in steps] == [1, 2, 3, 4, 5] * 2
    assert all(s.data["total"] == 5 for s in steps)
    assert all(s.data["elapsedSeconds"] >= 0 for s in steps)
    assert steps[-1].data["etaSeconds"] == 0
    answers = [event.data for event in received.named("answer")]
    assert answers == [{"index": 0, "seed": 7, "answerId": "order-1-0"}, {"index": 1, "seed": 8, "answerId": "order-1-1"}]
    assert received.named("done")[0].data == {}
    assert not received.named("preview"), "previews only when asked"


def test_a_request_id_finds_the_job_and_a_finished_job_replays_then_closes(events_server):
    handle = _async(events_server, _slow(steps=3, delay=0, request_id="replay-1"))
    live = read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A)
    assert live.names()[-1] == "done"
    started = time.monotonic()
    replay = read_events(events_server.url, "replay-1", api_key=KEY_A)
    assert time.monotonic() - started < 5
    assert [(e.id, e.name, e.data) for e in replay.events] == [(e.id, e.name, e.data) for e in live.events]


def test_last_event_id_resumes_after_that_event(events_server):
    handle = _async(events_server, _slow(steps=6, delay=30))
    first = read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A, stop_after=3)
    last = first.events[2].id
    rest = read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A, last_event_id=last)
    assert rest.events[0].id == last + 1
    whole = read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A)
    assert [e.id for e in first.events[:3] + rest.events] == [e.id for e in whole.events]


def test_another_key_gets_404_in_status_shape(events_server):
    handle = _async(events_server, _slow(steps=2, delay=0, request_id="mine-1"))
    for job in (handle["asyncHandle"], "mine-1"):
        other = read_events(events_server.url, job, api_key=KEY_B)
        assert other.status == 404, other.body
        assert '"code":5' in other.body.replace(" ", "") and "id:" in other.body
    nobody = read_events(events_server.url, handle["asyncHandle"])
    assert nobody.status == 401
    assert read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A).names()[-1] == "done"


def test_a_bad_last_event_id_is_a_400_naming_the_header(events_server):
    handle = _async(events_server, _slow(steps=1, delay=0))
    bad = read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A, last_event_id="x")  # type: ignore[arg-type]
    assert bad.status == 400 and "Last-Event-ID" in bad.body


def test_a_failing_job_ends_with_an_error_event(events_server):
    handle = _async(events_server, _slow(steps=3, delay=0, fail="error"))
    received = read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A)
    assert received.names()[-1] == "error"
    error = received.events[-1].data
    assert error["code"] == 13 and "fault injected" in error["message"]


def test_cancel_ends_with_cancelled(events_server):
    handle = _async(events_server, _slow(steps=150, delay=30))
    result: dict = {}
    reader = threading.Thread(target=lambda: result.update(r=read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A)))
    reader.start()
    time.sleep(0.4)
    cancelled = httpx.post(f"{events_server.url}/grpcgateway/asyncCancel", json=handle,
                           headers={"Authorization": f"Bearer {KEY_A}"}, timeout=10)
    assert cancelled.status_code == 200, cancelled.text
    reader.join(20)
    received = result["r"]
    assert received.names()[-1] == "error", received.names()
    assert received.events[-1].data["code"] == 1
    assert received.named("step"), "it was running when cancelled"


def test_heartbeats_keep_a_quiet_stream_alive(events_server):
    handle = _async(events_server, _slow(steps=3, delay=1000))
    received = read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A)
    assert received.comments.count("ping") >= 3, received.comments  # heartbeat_seconds = 0.3 in this config
    assert received.names()[-1] == "done"


def test_previews_on_request_are_decodable_images_of_the_promised_size(events_server):
    handle = _async(events_server, _slow(steps=8, delay=100, samples=1, size=(128, 96)))
    received = read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A, previews=True)
    previews = received.named("preview")
    assert previews, received.names()
    for preview in previews:
        data = preview.data
        assert set(data) == {"step", "mime", "width", "height", "image", "index"}
        image = Image.open(io.BytesIO(base64.b64decode(data["image"])))
        assert image.format == "JPEG" and data["mime"] == "image/jpeg"
        assert image.size == (data["width"], data["height"]) == (64, 48)  # preview_max_side = 64
        assert data["index"] == 0 and 1 <= data["step"] <= 8
    assert len(previews) >= 5, "one per step once the listener is there (no time throttle in this config)"
    # test-pattern's previews fade the pattern in from grey: later ones have more contrast.
    contrast = [np.asarray(Image.open(io.BytesIO(base64.b64decode(p.data["image"])))).std() for p in previews]
    assert contrast[-1] > contrast[0]
    replay = read_events(events_server.url, handle["asyncHandle"], api_key=KEY_A, previews=True)
    assert not replay.named("preview"), "a finished job replays without its previews"


def test_a_bad_previews_value_is_a_400_in_status_shape(events_server):
    handle = _async(events_server, _slow(steps=1, delay=0))
    response = httpx.get(f"{events_server.url}/jobs/{handle['asyncHandle']}/events", params={"previews": "yes"},
                         headers={"Authorization": f"Bearer {KEY_A}"}, timeout=10)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 3 and "previews" in body["message"], body
