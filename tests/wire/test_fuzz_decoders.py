"""Generated inputs for every HTTP body decoder: a bad body is a 4xx (or a WireError/RestError), never a 5xx.

Three layers: the proto3-JSON codec and the REST v1 body parsers called directly (many
examples, no I/O), then a real server receiving generated bodies on each decoding route
(/grpcgateway JSON, REST v1 JSON and multipart).
"""

from __future__ import annotations

import enum
import io
import json
import os
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sfumato import wire
from sfumato.api.rest_v1.bodies import decode_form, decode_json, image_info
from sfumato.api.rest_v1.errors import RestError
from sfumato.api.rest_v1.shapes import ImageToImageOptions, MaskingOptions, TextToImageOptions, UpscaleOptions
from sfumato.testing import RunningServer, start_server
from sfumato.wire_codec import WireError, decode_message
from sfumato.wire_codec.schema import Kind, plan_for

# ---- vocabulary: real field names and enum names make generated bodies reach deep into the decoders ----


def _wire_vocabulary() -> tuple[list[str], list[str]]:
    keys: set[str] = set()
    enums: set[str] = set()
    seen: set[type] = set()
    pending: list[type] = [wire.Request, wire.AsyncHandle, wire.ListEnginesRequest]
    while pending:
        struct = pending.pop()
        if struct in seen:
            continue
        seen.add(struct)
        for field in plan_for(struct).fields:
            keys.update({field.json_name, field.attr})
            if field.kind is Kind.MESSAGE:
                pending.append(field.target)
            elif field.kind is Kind.ENUM and isinstance(field.target, type) and issubclass(field.target, enum.Enum):
                enums.update(str(member.value) for member in field.target)
    return sorted(keys), sorted(enums)


WIRE_KEYS, ENUM_NAMES = _wire_vocabulary()
REST_KEYS = sorted({
    "text_prompts", "text", "weight", "cfg_scale", "clip_guidance_preset", "sampler", "samples", "seed", "steps",
    "style_preset", "extras", "height", "width", "init_image", "init_image_mode", "image_strength",
    "step_schedule_start", "step_schedule_end", "mask_source", "mask_image", "image",
})
REST_WORDS = ["IMAGE_STRENGTH", "STEP_SCHEDULE", "MASK_IMAGE_WHITE", "MASK_IMAGE_BLACK", "INIT_IMAGE_ALPHA",
              "FAST_BLUE", "NONE", "K_EULER", "anime", "SUCCESS"]


def _png(width: int, height: int, channels: int = 3) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(width * 7 + height).integers(0, 256, (height, width, channels), dtype=np.uint8)
    Image.fromarray(pixels if channels > 1 else pixels[:, :, 0]).save(buffer, format="PNG")
    return buffer.getvalue()


SAMPLE_IMAGES = [_png(64, 64), _png(128, 64, 4), _png(32, 32, 1), _png(8, 8)]

scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
    | st.sampled_from(ENUM_NAMES + REST_WORDS + ["NaN", "Infinity", "-1", "1e999", "4294967296", "aGVsbG8=", "data:,x"])
)
keys = st.sampled_from(WIRE_KEYS + REST_KEYS) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=40,
)
json_objects = st.dictionaries(keys, json_values, max_size=6)


@st.composite
def deep_bodies(draw: st.DrawFn) -> bytes:
    """Objects and arrays nested past any sane limit, inside a plausible field or at the top."""
    levels = draw(st.integers(min_value=50, max_value=5000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'{"cutouts":[', b"]}")]))
    inner = opener * levels + b"1" + closer * levels if opener != b"[" else opener * levels + closer * levels
    field = draw(st.sampled_from([b"", b"extras", b"image", b"prompt", b"text_prompts"]))
    return b'{"' + field + b'":' + inner + b"}" if field else inner


json_bodies = (
    json_objects.map(lambda value: json.dumps(value).encode())
    | json_values.map(lambda value: json.dumps(value).encode())
    | deep_bodies()
    | st.binary(max_size=64)
)


# ---- multipart bodies ----

FORM_NAMES = st.sampled_from(REST_KEYS) | st.builds(
    "text_prompts[{}][{}]".format, st.integers(min_value=-1, max_value=3) | st.just(10**12),
    st.sampled_from(["text", "weight", "x"]),
) | st.text(max_size=10)
FORM_VALUES = (
    st.sampled_from(SAMPLE_IMAGES) | st.binary(max_size=40)
    | st.sampled_from(REST_WORDS + ["0", "0.35", "1", "-1", "1e999", "nan", "512", "7", "", "{}", '{"a":[[[]]]}'])
    .map(str.encode)
    | st.text(max_size=20).map(str.encode)
    | json_values.map(lambda value: json.dumps(value).encode())
)
CONTENT_TYPES = st.sampled_from([None, "image/png", "text/plain", "application/octet-stream", "image/jpeg; x=1"])


@st.composite
def form_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    boundary = draw(st.sampled_from(["b0undary", "----x", "a" * 70]))
    lines = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        name = draw(FORM_NAMES).replace('"', "").replace("\r", "").replace("\n", "")
        disposition = f'form-data; name="{name}"'
        if draw(st.booleans()):
            disposition += '; filename="f.png"'
        header = f"Content-Disposition: {disposition}\r\n"
        content_type = draw(CONTENT_TYPES)
        if content_type:
            header += f"Content-Type: {content_type}\r\n"
        lines.append(f"--{boundary}\r\n{header}\r\n".encode() + draw(FORM_VALUES) + b"\r\n")
    body = b"".join(lines) + f"--{boundary}--\r\n".encode()
    damage = draw(st.sampled_from(["none", "none", "truncate", "garbage"]))
    if damage == "truncate":
        body = body[: draw(st.integers(min_value=0, max_value=len(body)))]
    elif damage == "garbage":
        body = draw(st.binary(max_size=80))
    header = draw(st.sampled_from([f"multipart/form-data; boundary={boundary}", "multipart/form-data",
                                   f"multipart/form-data; boundary=other", "application/json", ""]))
    return body, header


# ---- layer 1: the decoders themselves ----

# A longer hunt: SFUMATO_FUZZ_EXAMPLES=5000 (the live tests take a third of it).
EXAMPLES = int(os.environ.get("SFUMATO_FUZZ_EXAMPLES", "150"))
FAST = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(body=json_bodies, message=st.sampled_from([wire.Request, wire.AsyncHandle, wire.ListEnginesRequest]))
def test_the_wire_codec_raises_only_wire_errors(body: bytes, message: type) -> None:
    try:
        decode_message(body, message)
    except WireError:
        pass


@FAST
@given(body=json_bodies)
def test_the_rest_json_decoder_raises_only_rest_errors(body: bytes) -> None:
    try:
        decode_json(body, TextToImageOptions, 64)
    except RestError as error:
        assert 400 <= error.status < 500


@FAST
@given(form=form_bodies(), options=st.sampled_from([ImageToImageOptions, MaskingOptions, UpscaleOptions]))
def test_the_rest_form_decoder_raises_only_rest_errors(form: tuple[bytes, str], options: type) -> None:
    body, content_type = form
    try:
        decode_form(body, content_type, options, max_prompts=64, max_depth=64)
    except RestError as error:
        assert 400 <= error.status < 500


@FAST
@given(data=st.binary(max_size=200) | st.sampled_from(SAMPLE_IMAGES).flatmap(
    lambda image: st.integers(min_value=0, max_value=len(image)).map(lambda cut: image[:cut])))
def test_image_headers_raise_only_rest_errors(data: bytes) -> None:
    try:
        info = image_info("init_image", data)
    except RestError as error:
        assert error.status == 400
    else:
        assert info.width > 0 and info.height > 0


# ---- layer 2: a real server on each decoding route ----

CONFIG = """
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[grpc]
enabled = false
web_enabled = false

[[engines]]
id = "test-pattern"
kind = "test-pattern"
default_steps = 4
[engines.limits]
max_width = 128
max_height = 128
max_pixels = 16384
max_steps = 12
max_samples = 2
"""

GATEWAY_ROUTES = ["/grpcgateway/generate", "/grpcgateway/asyncGenerate", "/grpcgateway/asyncResult",
                  "/grpcgateway/asyncCancel", "/grpcgateway/engines"]
FORM_ROUTES = ["/v1/generation/test-pattern/image-to-image", "/v1/generation/test-pattern/image-to-image/masking",
               "/v1/generation/test-pattern/image-to-image/upscale"]
LIVE = settings(max_examples=max(20, EXAMPLES // 3), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # No test controls: a generated body must not be able to ask for delays or injected faults.
    running = start_server(tmp_path_factory.mktemp("fuzz"), config=CONFIG, plugins=["test_pattern"],
                           test_controls=False)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(fuzz_server: RunningServer) -> Iterator[httpx.Client]:
    with fuzz_server.client(timeout=60.0) as http:
        yield http


def _no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])


@LIVE
@given(body=json_bodies, route=st.sampled_from(GATEWAY_ROUTES),
       content_type=st.sampled_from(["application/json", "text/plain", "application/x-ndjson", "image/png"]))
def test_gateway_routes_never_answer_5xx(client: httpx.Client, body: bytes, route: str, content_type: str) -> None:
    response = client.post(route, content=body, headers={"Content-Type": content_type})
    _no_server_error(response)
    if response.status_code >= 400:
        assert set(response.json()) == {"code", "message", "details"}


@LIVE
@given(body=json_bodies | json_objects.map(lambda value: json.dumps({"text_prompts": [{"text": "x"}], **value}).encode()))
def test_rest_json_route_never_answers_5xx(client: httpx.Client, body: bytes) -> None:
    response = client.post("/v1/generation/test-pattern/text-to-image", content=body,
                           headers={"Content-Type": "application/json"})
    _no_server_error(response)
    if response.status_code >= 400:
        assert set(response.json()) == {"id", "name", "message"}


@LIVE
@given(form=form_bodies(), route=st.sampled_from(FORM_ROUTES), png=st.booleans())
def test_rest_form_routes_never_answer_5xx(client: httpx.Client, form: tuple[bytes, str], route: str,
                                           png: bool) -> None:
    body, content_type = form
    headers = {"Content-Type": content_type} if content_type else {}
    if png:
        headers["Accept"] = "image/png"
    response = client.post(route, content=body, headers=headers)
    _no_server_error(response)
    if response.status_code >= 400:
        assert set(response.json()) == {"id", "name", "message"}
