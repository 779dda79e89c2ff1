"""The REST v1 bad-input matrix: every case a 4xx in the REST error shape naming the problem, no 5xx."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from rest_v1_support import CONFIG, assert_rest_error, half_mask, png

from sfumato.testing import RunningServer, start_server

PROMPT = [{"text": "a lighthouse"}]
T2I = "text-to-image"
I2I = "image-to-image"
MASKING = "image-to-image/masking"
UPSCALE = "image-to-image/upscale"


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


# (id, route, request kwargs, status, name, message fragments)
JSON_CASES = [
    ("height not a multiple of 64", {"json": {"text_prompts": PROMPT, "height": 500}}, 400,
     "invalid_height_or_width", ["height", "multiple of 64", "500"]),
    ("width below 128", {"json": {"text_prompts": PROMPT, "width": 64}}, 400, "invalid_height_or_width", ["width", ">= 128"]),
    ("width above the engine's limit", {"json": {"text_prompts": PROMPT, "width": 2048}}, 400,
     "invalid_height_or_width", ["width: 2048 is above this engine's limit of 1024"]),
    ("samples 11", {"json": {"text_prompts": PROMPT, "samples": 11}}, 400, "invalid_samples", ["samples", "<= 10"]),
    ("samples 0", {"json": {"text_prompts": PROMPT, "samples": 0}}, 400, "invalid_samples", ["samples", ">= 1"]),
    ("samples 2 with Accept: image/png", {"json": {"text_prompts": PROMPT, "samples": 2},
                                          "headers": {"Accept": "image/png"}}, 400, "invalid_samples",
     ["samples: must be 1 with Accept: image/png"]),
    ("cfg_scale 36", {"json": {"text_prompts": PROMPT, "cfg_scale": 36}}, 400, "bad_request", ["cfg_scale", "<= 35"]),
    ("steps 9", {"json": {"text_prompts": PROMPT, "steps": 9}}, 400, "bad_request", ["steps", ">= 10", "got 9"]),
    ("steps 151", {"json": {"text_prompts": PROMPT, "steps": 151}}, 400, "bad_request", ["steps", "<= 150"]),
    ("seed -1", {"json": {"text_prompts": PROMPT, "seed": -1}}, 400, "bad_request", ["seed", ">= 0"]),
    ("seed 2**32", {"json": {"text_prompts": PROMPT, "seed": 2**32}}, 400, "bad_request", ["seed", "<= 4294967295"]),
    ("steps as a string", {"json": {"text_prompts": PROMPT, "steps": "30"}}, 400, "bad_request", ["steps", "expected int"]),
    ("unknown sampler", {"json": {"text_prompts": PROMPT, "sampler": "K_EULERR"}}, 400, "bad_request",
     ["sampler", "'K_EULERR' is not one of", "K_EULER"]),
    ("sampler the engine lacks", {"json": {"text_prompts": PROMPT, "sampler": "K_LMS"}}, 400, "bad_request",
     ["sampler: engine 'test-pattern' has no sampler"]),
    ("unknown clip preset", {"json": {"text_prompts": PROMPT, "clip_guidance_preset": "FAST_RED"}}, 400,
     "bad_request", ["clip_guidance_preset", "FAST_BLUE"]),
    ("unknown style preset", {"json": {"text_prompts": PROMPT, "style_preset": "watercolour"}}, 400, "bad_request",
     ["style_preset", "anime"]),
    ("no text_prompts", {"json": {"steps": 30}}, 400, "bad_request", ["text_prompts: required"]),
    ("empty text_prompts", {"json": {"text_prompts": []}}, 400, "bad_request", ["text_prompts", "length >= 1"]),
    ("empty prompt text", {"json": {"text_prompts": [{"text": ""}]}}, 400, "bad_request", ["text_prompts[0].text"]),
    ("prompt of 2001 characters", {"json": {"text_prompts": [{"text": "x" * 2001}]}}, 400, "bad_request",
     ["text_prompts[0].text", "2000"]),
    ("prompt weight as a string", {"json": {"text_prompts": [{"text": "x", "weight": "heavy"}]}}, 400,
     "bad_request", ["text_prompts[0].weight"]),
    ("unknown field", {"json": {"text_prompts": PROMPT, "cfgscale": 7}}, 400, "bad_request",
     ["unknown field 'cfgscale'", "cfg_scale"]),
    ("unknown prompt field", {"json": {"text_prompts": [{"text": "x", "weigth": 1}]}}, 400, "bad_request",
     ["text_prompts[0].weigth"]),
    ("extras nesting too deep", {"json": {"text_prompts": PROMPT, "extras": deep(100)}}, 400, "bad_request",
     ["limits.max_json_depth"]),
    ("a body nesting 100000 levels", {"data": b"[" * 100_000 + b"]" * 100_000,
                                      "headers": {"Content-Type": "application/json"}}, 400, "bad_request",
     ["limits.max_json_depth"]),
    ("not JSON", {"data": b"{text_prompts", "headers": {"Content-Type": "application/json"}}, 400, "bad_request",
     ["not valid JSON"]),
    ("a JSON array", {"json": [PROMPT]}, 400, "bad_request", ["must be a JSON object"]),
    ("empty body", {"data": b"", "headers": {"Content-Type": "application/json"}}, 400, "bad_request", ["body is empty"]),
    ("multipart to the JSON route", {"files": {"init_image": png(64, 64)}, "data": {"text_prompts[0][text]": "x"}},
     400, "bad_request", ["multipart/form-data", "JSON body"]),
]


def form_case(files: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
    fields = {"text_prompts[0][text]": "a dog", **data}
    return {"files": {"init_image": png(128, 128)} if files is None else files, "data": fields}


FORM_CASES = [
    (I2I, "no init_image", form_case(files={"other": b"x"}), 400, "bad_request", ["unknown field 'other'"]),
    (I2I, "missing init_image", {"data": {"text_prompts[0][text]": "a dog"},
                                 "files": {"text_prompts[1][text]": (None, "more")}}, 400, "bad_request",
     ["init_image: required"]),
    (I2I, "init_image is text", form_case(files={"init_image": ("a.png", b"hello, world", "image/png")}), 400,
     "invalid_mime_type", ["init_image: not an image"]),
    (I2I, "init_image is empty", form_case(files={"init_image": ("a.png", b"", "image/png")}), 400,
     "invalid_file_size", ["init_image: the file part is empty"]),
    (I2I, "PNG cut in its header", form_case(files={"init_image": png(128, 128)[:20]}), 400, "invalid_mime_type",
     ["init_image: the image header cannot be read"]),
    (I2I, "PNG cut in its pixels", form_case(files={"init_image": png(128, 128)[:-200]}), 400, "bad_request",
     ["init_image: the PNG could not be decoded"]),
    (I2I, "image_strength 1.5", form_case(image_strength="1.5"), 400, "bad_request", ["image_strength", "<= 1"]),
    (I2I, "image_strength not a number", form_case(image_strength="lots"), 400, "bad_request", ["image_strength"]),
    (I2I, "image_strength with STEP_SCHEDULE", form_case(init_image_mode="STEP_SCHEDULE", image_strength="0.3"), 400,
     "bad_request", ["image_strength: only with init_image_mode IMAGE_STRENGTH"]),
    (I2I, "step_schedule_start with IMAGE_STRENGTH", form_case(step_schedule_start="0.3"), 400, "bad_request",
     ["step_schedule_start: only with init_image_mode STEP_SCHEDULE"]),
    (I2I, "unknown init_image_mode", form_case(init_image_mode="STRENGTH"), 400, "bad_request",
     ["init_image_mode", "IMAGE_STRENGTH, STEP_SCHEDULE"]),
    (I2I, "width on image-to-image", form_case(width="512"), 400, "bad_request", ["unknown field 'width'"]),
    (I2I, "a field given twice", {"files": {"init_image": png(128, 128)},
                                  "data": [("text_prompts[0][text]", "x"), ("steps", "10"), ("steps", "20")]}, 400,
     "bad_request", ["steps: given twice"]),
    (I2I, "a prompt weight without its text", form_case(**{"text_prompts[1][weight]": "0.5"}), 400, "bad_request",
     ["text_prompts[1].text: required"]),
    (I2I, "no prompts", {"files": {"init_image": png(128, 128)}, "data": {"steps": "10"}}, 400, "bad_request",
     ["text_prompts: required"]),
    (I2I, "a text field that is not UTF-8", form_case(files={"init_image": png(128, 128),
                                                            "sampler": ("s", b"\xff\xfe", "text/plain")}),
     400, "bad_request", ["'sampler': a text field must be UTF-8"]),
    (I2I, "extras that are not JSON", form_case(extras="{nope"), 400, "bad_request", ["extras: not valid JSON"]),
    (I2I, "JSON instead of a form", {"json": {"text_prompts": PROMPT}}, 400, "bad_request",
     ["this route takes multipart/form-data"]),
    (I2I, "a form without a boundary", {"data": b"--x\r\n", "headers": {"Content-Type": "multipart/form-data"}},
     400, "bad_request", ["without a boundary"]),
    (I2I, "a malformed form", {"data": b"--b\r\nContent-Disposition: form-data\r\n\r\nx",
                               "headers": {"Content-Type": "multipart/form-data; boundary=b"}}, 400, "bad_request",
     ["malformed"]),
    (MASKING, "no mask_source", form_case(files={"init_image": png(), "mask_image": half_mask()}), 400,
     "invalid_mask_image", ["mask_source: required"]),
    (MASKING, "unknown mask_source", form_case(files={"init_image": png(), "mask_image": half_mask()},
                                               mask_source="MASK_IMAGE_GREY"), 400, "invalid_mask_image",
     ["MASK_IMAGE_WHITE"]),
    (MASKING, "MASK_IMAGE_WHITE without mask_image", form_case(files={"init_image": png()},
                                                               mask_source="MASK_IMAGE_WHITE"), 400,
     "invalid_mask_image", ["mask_image: required with mask_source MASK_IMAGE_WHITE"]),
    (MASKING, "mask of another size", form_case(files={"init_image": png(256, 256), "mask_image": half_mask(128, 256)},
                                                mask_source="MASK_IMAGE_BLACK"), 400, "invalid_image_dimensions",
     ["mask_image: 128×256 does not match the init_image's 256×256"]),
    (MASKING, "INIT_IMAGE_ALPHA on an opaque image", form_case(files={"init_image": png()},
                                                               mask_source="INIT_IMAGE_ALPHA"), 400,
     "invalid_mask_image", ["no alpha channel"]),
    (MASKING, "INIT_IMAGE_ALPHA with a mask_image", form_case(files={"init_image": png(alpha_left=True),
                                                                     "mask_image": half_mask()},
                                                              mask_source="INIT_IMAGE_ALPHA"), 400,
     "invalid_mask_image", ["mask_image: leave it out"]),
    (UPSCALE, "upscale on a generating engine", {"files": {"image": png(64, 64)}, "data": {"width": "1024"}}, 404,
     "not_found", ["not an upscaling engine"]),
]


@pytest.mark.parametrize(("case", "kwargs", "status", "name", "fragments"), JSON_CASES, ids=[c[0] for c in JSON_CASES])
def test_text_to_image_bad_input(rest_server: RunningServer, case: str, kwargs: dict[str, Any], status: int,
                                 name: str, fragments: list[str]) -> None:
    response = requests.post(f"{rest_server.url}/v1/generation/test-pattern/{T2I}", timeout=60, **kwargs)
    assert_rest_error(response, status, name, *fragments)


@pytest.mark.parametrize(("route", "case", "kwargs", "status", "name", "fragments"), FORM_CASES,
                         ids=[c[1] for c in FORM_CASES])
def test_form_routes_bad_input(rest_server: RunningServer, route: str, case: str, kwargs: dict[str, Any],
                               status: int, name: str, fragments: list[str]) -> None:
    response = requests.post(f"{rest_server.url}/v1/generation/test-pattern/{route}", timeout=60, **kwargs)
    assert_rest_error(response, status, name, *fragments)


def test_unknown_engine_route_and_method(rest_server: RunningServer) -> None:
    response = requests.post(f"{rest_server.url}/v1/generation/nope/{T2I}", json={"text_prompts": PROMPT}, timeout=10)
    assert_rest_error(response, 404, "not_found", "no engine 'nope'", "test-pattern")
    response = requests.post(f"{rest_server.url}/v1/generation/nope/{I2I}", files={"init_image": png(64, 64)},
                             data={"text_prompts[0][text]": "x"}, timeout=10)
    assert_rest_error(response, 404, "not_found", "no engine 'nope'")
    assert_rest_error(requests.get(f"{rest_server.url}/v1/generation/test-pattern/{T2I}", timeout=10), 405,
                      "method_not_allowed", "GET")
    assert_rest_error(requests.get(f"{rest_server.url}/v1/engines/lists", timeout=10), 404, "not_found", "no route")


def test_a_body_over_the_size_limit(rest_server: RunningServer) -> None:
    response = requests.post(f"{rest_server.url}/v1/generation/test-pattern/{I2I}",
                             files={"init_image": b"\0" * 9_000_000}, data={"text_prompts[0][text]": "x"}, timeout=60)
    assert_rest_error(response, 413, "invalid_file_size", "limits.max_body_bytes")


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory):
    running = start_server(tmp_path_factory.mktemp("rest-v1-keys"), config=CONFIG, plugins=["test_pattern"],
                           api_key="secret-key")
    yield running
    running.stop()


def test_api_keys_as_bearer_tokens(keyed_server: RunningServer) -> None:
    url = f"{keyed_server.url}/v1/generation/test-pattern/{T2I}"
    body = {"text_prompts": PROMPT, "steps": 10, "width": 128, "height": 128}
    missing = requests.post(url, json=body, timeout=10)
    assert_rest_error(missing, 401, "unauthorized", "missing Authorization header")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.post(url, json=body, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert_rest_error(wrong, 401, "unauthorized", "invalid API key")
    assert_rest_error(requests.get(f"{keyed_server.url}/v1/user/balance", timeout=10), 401, "unauthorized")
    good = requests.post(url, json=body, headers={"Authorization": "Bearer secret-key"}, timeout=60)
    assert good.status_code == 200 and len(good.json()["artifacts"]) == 1
    listed = requests.get(f"{keyed_server.url}/v1/engines/list", headers={"Authorization": "Bearer secret-key"}, timeout=10)
    assert listed.status_code == 200 and listed.json()[0]["id"] == "test-pattern"


def test_rate_limit_answers_in_the_rest_shape(tmp_path) -> None:
    config = CONFIG.replace("requests_per_minute = 0", "requests_per_minute = 1")
    server = start_server(tmp_path, config=config, plugins=["test_pattern"])
    try:
        url = f"{server.url}/v1/user/balance"
        assert requests.get(url, timeout=10).status_code == 200
        limited = requests.get(url, timeout=10)
        assert_rest_error(limited, 429, "rate_limit_exceeded", "quotas.requests_per_minute")
        assert int(limited.headers["Retry-After"]) >= 1
    finally:
        server.stop()


def test_a_stalled_body_gets_the_rest_408(tmp_path) -> None:
    config = CONFIG.replace('default_engine = "test-pattern"', 'default_engine = "test-pattern"\nbody_timeout_seconds = 1.0')
    server = start_server(tmp_path, config=config, plugins=["test_pattern"])
    try:
        address = urlsplit(server.url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/generation/test-pattern/text-to-image HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"text_prompts\":")
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        error = json.loads(body)
        assert set(error) == {"id", "name", "message"} and error["name"] == "request_timeout"
        assert "server.body_timeout_seconds" in error["message"]
    finally:
        server.stop()
