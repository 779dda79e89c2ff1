"""The bad-input matrix: every case gets the API's error shape, status, code and a helpful message."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.conftest import png_bytes

TINY_PNG = png_bytes(np.zeros((8, 8, 3), dtype=np.uint8))


def bomb_png(width: int = 50000, height: int = 50000) -> bytes:
    """A valid PNG header declaring a huge image, with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def jpeg_bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    marker = data.index(b"\xff\xc0")  # SOF0: height and width follow the precision byte
    data[marker + 5 : marker + 9] = struct.pack(">HH", 60000, 60000)
    return bytes(data)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def req(**image) -> dict:
    return {"prompt": [{"text": "x"}], "image": {"width": "32", "height": "32", **image}}


def with_artifact(artifact: dict, extra: list | None = None) -> dict:
    body = req()
    body["prompt"].append({"artifact": artifact})
    body["prompt"].extend(extra or [])
    return body


GEN = "/grpcgateway/generate"
CASES = [
    # (id, method, path, body, status, code, words in message)
    ("malformed json", "POST", GEN, b'{"prompt": [', 400, 3, ["JSON"]),
    ("json not an object", "POST", GEN, b"[1, 2]", 400, 3, ["object"]),
    ("trailing garbage", "POST", GEN, b'{"prompt": []} xx', 400, 3, ["JSON"]),
    ("unknown top-level field", "POST", GEN, {"promt": []}, 400, 3, ["promt"]),
    ("unknown nested field", "POST", GEN, {"prompt": [{"txet": "a"}]}, 400, 3, ["prompt[0]", "txet"]),
    ("unknown image field", "POST", GEN, {"image": {"widht": "64"}}, 400, 3, ["image", "widht"]),
    ("wrong type for width", "POST", GEN, {"image": {"width": [64]}}, 400, 3, ["image.width"]),
    ("fractional width", "POST", GEN, {"image": {"width": 64.5}}, 400, 3, ["image.width"]),
    ("negative samples", "POST", GEN, {"image": {"samples": "-1"}}, 400, 3, ["image.samples"]),
    ("bool as int", "POST", GEN, {"image": {"steps": True}}, 400, 3, ["image.steps"]),
    ("string prompt list", "POST", GEN, {"prompt": "a cat"}, 400, 3, ["prompt"]),
    ("unknown enum name", "POST", GEN, {"requestedType": "ARTIFACT_BANANA"}, 400, 3, ["requestedType"]),
    ("unknown enum number", "POST", GEN, {"requestedType": 77}, 400, 3, ["requestedType"]),
    ("oneof conflict in prompt", "POST", GEN, {"prompt": [{"text": "a", "tokens": {"tokens": []}}]}, 400, 3, ["prompt[0]", "text", "tokens"]),
    ("oneof conflict in transform", "POST", GEN, req(transform={"diffusion": "SAMPLER_DDIM", "upscaler": "UPSCALER_RGB"}), 400, 3, ["diffusion", "upscaler"]),
    ("oneof conflict in adjustment", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": b64(TINY_PNG), "adjustments": [{"invert": {}, "blur": {"sigma": 1}}]}), 400, 3, ["invert", "blur"]),
    ("invalid base64", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": "not*base64!"}), 400, 3, ["binary", "base64"]),
    ("non-image bytes", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": b64(b"hello, this is not an image")}), 400, 3, ["prompt[1].artifact.binary", "image"]),
    ("truncated png", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": b64(TINY_PNG[:40])}), 400, 3, ["prompt[1].artifact.binary"]),
    ("png decompression bomb", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": b64(bomb_png())}), 400, 3, ["50000", "limit"]),
    ("jpeg decompression bomb", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": b64(jpeg_bomb())}), 400, 3, ["60000", "limit"]),
    ("image artifact without bytes", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE"}), 400, 3, ["binary"]),
    ("mask without init image", "POST", GEN, with_artifact({"type": "ARTIFACT_MASK", "binary": b64(TINY_PNG)}), 400, 3, ["mask", "init image"]),
    ("two init images", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": b64(TINY_PNG)}, [{"artifact": {"type": "ARTIFACT_IMAGE", "binary": b64(TINY_PNG)}}]), 400, 3, ["one init image"]),
    ("empty prompt", "POST", GEN, {"prompt": [{}]}, 400, 3, ["prompt[0]"]),
    ("token prompt", "POST", GEN, {"prompt": [{"tokens": {"tokens": [{"id": 1}]}}]}, 501, 12, ["tokens"]),
    ("video artifact prompt", "POST", GEN, with_artifact({"type": "ARTIFACT_VIDEO", "binary": "AA=="}), 501, 12, ["ARTIFACT_VIDEO"]),
    ("zero width", "POST", GEN, req(width="0"), 400, 3, ["image.width", "positive"]),
    ("width not multiple of 8", "POST", GEN, req(width="30"), 400, 3, ["image.width", "multiple of 8"]),
    ("huge width", "POST", GEN, req(width="1048576"), 400, 3, ["image.width", "limit"]),
    ("width beyond uint64", "POST", GEN, req(width="18446744073709551616"), 400, 3, ["image.width"]),
    ("too many pixels", "POST", GEN, {"prompt": [{"text": "x"}], "image": {"width": "1024", "height": "1032"}}, 400, 3, ["image", "limit"]),
    ("steps zero", "POST", GEN, req(steps="0"), 400, 3, ["image.steps", "1..150"]),
    ("steps a million", "POST", GEN, req(steps="1000000"), 400, 3, ["image.steps", "1..150"]),
    ("samples a million", "POST", GEN, req(samples="1000000"), 400, 3, ["image.samples", "1..8"]),
    ("samples zero", "POST", GEN, req(samples="0"), 400, 3, ["image.samples"]),
    ("too many prompts", "POST", GEN, {"prompt": [{"text": "x"}] * 65}, 400, 3, ["max_prompts"]),
    ("unknown engine", "POST", GEN, {"engineId": "nope", "prompt": [{"text": "x"}]}, 404, 5, ["nope", "test-pattern"]),
    ("unknown sampler name", "POST", GEN, req(transform={"diffusion": "SAMPLER_MAGIC"}), 400, 3, ["SAMPLER_MAGIC", "SAMPLER_K_EULER"]),
    ("sampler the engine lacks", "POST", GEN, req(transform={"diffusion": "SAMPLER_K_HEUN"}), 400, 3, ["SAMPLER_K_HEUN", "available"]),
    ("eta on a sampler without eta", "POST", GEN, req(transform={"diffusion": "SAMPLER_DDIM"}, parameters=[{"sampler": {"eta": 0.5}}]), 400, 3, ["eta"]),
    ("upscaler transform", "POST", GEN, req(transform={"upscaler": "UPSCALER_ESRGAN"}), 501, 12, ["upscaler"]),
    ("non-image requested type", "POST", GEN, {"requestedType": "ARTIFACT_TEXT", "prompt": [{"text": "x"}]}, 501, 12, ["requestedType"]),
    ("clip guidance", "POST", GEN, req(parameters=[{"guidance": {"instances": [{"guidanceStrength": 0.5}]}}]), 501, 12, ["guidanceStrength"]),
    ("cfg scale out of range", "POST", GEN, req(parameters=[{"sampler": {"cfgScale": 1000}}]), 400, 3, ["cfgScale"]),
    ("nan cfg scale", "POST", GEN, req(parameters=[{"sampler": {"cfgScale": "NaN"}}]), 400, 3, ["cfgScale"]),
    ("schedule start above 1", "POST", GEN, req(parameters=[{"schedule": {"start": 1.5}}]), 400, 3, ["schedule.start"]),
    ("hires on engine without it", "POST", GEN, req(hires={"enable": True}), 501, 12, ["hires"]),
    ("unknown extension parameter", "POST", GEN, req(extension={"parameters": [{"name": "colour", "str": "red"}]}), 400, 3, ["colour", "pattern"]),
    ("extension wrong type", "POST", GEN, req(extension={"parameters": [{"name": "step_delay_ms", "str": "fast"}]}), 400, 3, ["step_delay_ms", "int"]),
    ("extension out of range", "POST", GEN, req(extension={"parameters": [{"name": "step_delay_ms", "int": "99999"}]}), 400, 3, ["step_delay_ms", "in 0..10000"]),
    ("post adjustments on an init image", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": b64(TINY_PNG), "postAdjustments": [{"invert": {}}]}), 400, 3, ["postAdjustments", "masks"]),
    ("extension bad choice", "POST", GEN, req(extension={"parameters": [{"name": "pattern", "str": "stars"}]}), 400, 3, ["pattern", "waves"]),
    ("levels with inverted range", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": b64(TINY_PNG), "adjustments": [{"levels": {"inputLow": 0.8, "inputHigh": 0.2, "outputHigh": 1}}]}), 400, 3, ["levels"]),
    ("crop outside the image", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": b64(TINY_PNG), "adjustments": [{"crop": {"top": "4", "left": "4", "width": "8", "height": "8"}}]}), 400, 3, ["crop"]),
    ("unknown adjustment kind", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": b64(TINY_PNG), "adjustments": [{"sepia": {}}]}), 400, 3, ["sepia"]),
    ("bad lora bytes", "POST", GEN, with_artifact({"type": "ARTIFACT_LORA", "binary": "AAE="}), 400, 3, ["LoRA", "safetensors"]),
    ("lora on an engine without lora", "POST", GEN, with_artifact({"type": "ARTIFACT_LORA", "binary": b64(b"0" * 64)}), 501, 12, ["LoRA"]),
    ("data: URL instead of base64", "POST", GEN, with_artifact({"type": "ARTIFACT_IMAGE", "binary": "data:image/png;base64," + b64(TINY_PNG)}), 400, 3, ["prompt[1].artifact.binary", "data: URL", "bare base64"]),
    ("requestId too long", "POST", GEN, {"requestId": "r" * 257, "prompt": [{"text": "x"}]}, 400, 3, ["requestId", "257", "limits.max_request_id_chars"]),
    ("requestId with a line break", "POST", GEN, {"requestId": "abc\r\nforged log line", "prompt": [{"text": "x"}]}, 400, 3, ["requestId", "U+000D", "control characters"]),
    ("requestId with NUL", "POST", GEN, {"requestId": "a\u0000b", "prompt": [{"text": "x"}]}, 400, 3, ["requestId", "U+0000"]),
    ("huge unknown engine id", "POST", GEN, {"engineId": "e" * 100000, "prompt": [{"text": "x"}]}, 404, 5, ["engineId", "100000 characters", "test-pattern"]),
    ("huge unknown field name", "POST", GEN, {"k" * 100000: 1}, 400, 3, ["unknown field", "100000 characters"]),
    ("huge unknown sampler name", "POST", GEN, req(transform={"diffusion": "S" * 100000}), 400, 3, ["image.transform.diffusion", "100000 characters"]),
    ("seed 2**32", "POST", GEN, req(seed=[4294967296]), 400, 3, ["image.seed[0]", "4294967295"]),
    ("eta in the second parameters entry", "POST", GEN, req(transform={"diffusion": "SAMPLER_DDIM"}, parameters=[{"sampler": {"cfgScale": 7}}, {"sampler": {"eta": 0.5}}]), 400, 3, ["image.parameters[1].sampler.eta", "SAMPLER_DDIM", "eta"]),
    ("cfg scale range names its entry", "POST", GEN, req(parameters=[{"schedule": {"start": 0.5}}, {"sampler": {"cfgScale": 99}}]), 400, 3, ["image.parameters[1].sampler.cfgScale", "0..50"]),
    ("eta out of range", "POST", GEN, req(transform={"diffusion": "SAMPLER_K_EULER_ANCESTRAL"}, parameters=[{"sampler": {"eta": 11}}]), 400, 3, ["image.parameters[0].sampler.eta", "0..10"]),
    ("negative churn", "POST", GEN, req(parameters=[{"sampler": {"churn": {"churn": -1}}}]), 400, 3, ["image.parameters[0].sampler.churn.churn", "≥ 0"]),
    ("churn tmin above tmax", "POST", GEN, req(parameters=[{"sampler": {"churn": {"churn": 1, "churnTmin": 5, "churnTmax": 1}}}]), 400, 3, ["churnTmin", "churnTmax"]),
    ("tiny karras rho", "POST", GEN, req(parameters=[{"sampler": {"sigma": {"karrasRho": 1e-38}}}]), 400, 3, ["image.parameters[0].sampler.sigma.karrasRho", "0.1..100"]),
    ("sigma min not below sigma max", "POST", GEN, req(parameters=[{"sampler": {"sigma": {"sigmaMin": 5, "sigmaMax": 5}}}]), 400, 3, ["sigmaMin", "smaller than", "sigmaMax"]),
    ("zero sigma min", "POST", GEN, req(parameters=[{"sampler": {"sigma": {"sigmaMin": 0}}}]), 400, 3, ["image.parameters[0].sampler.sigma.sigmaMin", "0.0001..1000"]),
    ("huge sigma max", "POST", GEN, req(parameters=[{"sampler": {"sigma": {"sigmaMax": 1e30}}}]), 400, 3, ["image.parameters[0].sampler.sigma.sigmaMax", "0.0001..1000"]),
    ("infinite sigma max", "POST", GEN, req(parameters=[{"sampler": {"sigma": {"sigmaMax": "Infinity"}}}]), 400, 3, ["sigmaMax", "finite"]),
    ("sigma limits on a sampler without them", "POST", GEN, req(transform={"diffusion": "SAMPLER_K_EULER"}, parameters=[{}, {"sampler": {"sigma": {"sigmaMin": 0.1, "sigmaMax": 10}}}]), 400, 3, ["image.parameters[1].sampler.sigma.sigmaMin", "SAMPLER_K_EULER"]),
    ("lora tensor with a negative dimension", "POST", GEN, with_artifact({"type": "ARTIFACT_LORA", "lora": {"tensors": [{"dtype": "DT_FLOAT32", "shape": ["-1"]}]}}), 400, 3, ["prompt[1].artifact.lora.tensors[0].shape", "negative dimension"]),
    ("lora tensor too big for int64", "POST", GEN, with_artifact({"type": "ARTIFACT_LORA", "lora": {"tensors": [{"dtype": "DT_FLOAT32", "shape": ["4294967296", "4294967296"], "data": "AAAAAA=="}]}}), 400, 3, ["prompt[1].artifact.lora.tensors[0]", "73786976294838206464 bytes"]),
    ("unsupported content type", "POST", GEN, {"__raw__": b"prompt=x", "__ct__": "multipart/form-data; boundary=x"}, 400, 3, ["Content-Type"]),
    ("async result unknown handle", "POST", "/grpcgateway/asyncResult", {"asyncHandle": "does-not-exist"}, 404, 5, ["does-not-exist"]),
    ("async result no handle", "POST", "/grpcgateway/asyncResult", {}, 400, 3, ["asyncHandle"]),
    ("async cancel unknown handle", "POST", "/grpcgateway/asyncCancel", {"asyncHandle": "nope"}, 404, 5, ["nope"]),
    ("async result unknown field", "POST", "/grpcgateway/asyncResult", {"handle": "x"}, 400, 3, ["handle"]),
    ("async generate validates", "POST", "/grpcgateway/asyncGenerate", req(steps="0"), 400, 3, ["image.steps"]),
    ("wrong method on generate", "GET", GEN, None, 405, 12, ["GET", "generate"]),
    ("trace on a route", "TRACE", "/healthz", None, 405, 12, ["TRACE"]),
    ("wrong method on engines", "DELETE", "/grpcgateway/engines", None, 405, 12, ["DELETE"]),
    ("unknown path", "POST", "/grpcgateway/generat", {}, 404, 5, ["/grpcgateway/generat"]),
    ("unknown root path", "GET", "/v2/whatever", None, 404, 5, ["/v2/whatever"]),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(server, method, path, body, status, code, words):
    headers = {"Content-Type": "application/json"}
    if isinstance(body, dict) and "__raw__" in body:
        headers["Content-Type"] = body["__ct__"]
        body = body["__raw__"]
    with server.client() as client:
        if isinstance(body, bytes):
            response = client.request(method, path, content=body, headers=headers)
        elif body is None:
            response = client.request(method, path)
        else:
            response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert set(payload) == {"code", "message", "details"}
    assert payload["code"] == code and payload["details"] == []
    if status == 405:
        assert "GET" in response.headers["allow"] or "POST" in response.headers["allow"]
    for word in words:
        assert word in payload["message"], f"{word!r} not in {payload['message']!r}"


def test_matrix_is_large_enough():
    assert len(CASES) >= 40


def test_oversized_body_is_refused_before_decoding(server):
    body = b'{"prompt": [{"text": "' + b"x" * (9 * 1024 * 1024) + b'"}]}'
    with server.client() as client:
        response = client.post(GEN, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == 3
    assert "max_body_bytes" in response.json()["message"]


def test_server_still_healthy_after_the_matrix(server):
    with server.client() as client:
        assert client.get("/healthz").status_code == 200
