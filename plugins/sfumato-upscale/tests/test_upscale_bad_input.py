"""Bad upscale requests: each a 4xx in the API's error shape naming the field, never a 500."""

from __future__ import annotations

import pytest

from _upscale_support import GENERATE, noise_image, png_b64, upscale_request

SOURCE = noise_image(16, 24)  # height 16, width 24

CASES = [
    # (id, body, status, google.rpc code, words in the message)
    ("factor above the engine's maximum", upscale_request("rgb", SOURCE, width=24 * 9), 400, 3,
     ["image.width", "×9", "×1 to ×8"]),
    ("factor above the maximum from the height", upscale_request("esrgan", SOURCE, height=16 * 5), 400, 3,
     ["image.height", "×5", "×1 to ×4"]),
    ("downscaling", upscale_request("rgb", SOURCE, width=12), 400, 3, ["image.width", "smaller", "factor ≥ 1"]),
    ("aspect ratio changed", upscale_request("rgb", SOURCE, width=48, height=64), 400, 3,
     ["image.height", "aspect ratio", "one factor"]),
    ("above the engine's size limit", upscale_request("rgb", noise_image(8, 200), width=1600), 400, 3,
     ["image.width", "1600", "limit of 1024"]),
    ("zero width", upscale_request("rgb", SOURCE, width=0), 400, 3, ["image.width", "positive"]),
    ("missing init image", upscale_request("rgb", None, width=64), 400, 3, ["prompt", "init image", "ARTIFACT_IMAGE"]),
    ("upscaler the engine does not serve", upscale_request("rgb", SOURCE, upscaler="UPSCALER_ESRGAN", width=48), 400, 3,
     ["image.transform.upscaler", "UPSCALER_ESRGAN", "serves UPSCALER_RGB"]),
    ("GFPGAN without a face model", upscale_request("esrgan", SOURCE, upscaler="UPSCALER_GFPGAN", width=48), 501, 12,
     ["image.transform.upscaler", "UPSCALER_GFPGAN", "options.face_model", "UPSCALER_ESRGAN"]),
    ("upscaler on a generating engine", upscale_request("pattern", SOURCE, upscaler="UPSCALER_RGB", width=48), 501, 12,
     ["image.transform.upscaler", "does not upscale"]),
    ("a sampler on an upscaler", {**upscale_request("rgb", SOURCE, width=48), "image": {"width": "48", "transform": {"diffusion": "SAMPLER_DDIM"}}},
     501, 12, ["image.transform.diffusion", "no sampler", "UPSCALER_RGB"]),
    ("sampler eta on an upscaler", upscale_request("rgb", SOURCE, width=48, parameters=[{"sampler": {"eta": 0.5}}]), 400, 3,
     ["image.parameters[0].sampler.eta", "runs no sampler"]),
    ("strength on an upscaler", upscale_request("esrgan", SOURCE, width=48, parameters=[{"schedule": {"start": 0.5}}]), 501, 12,
     ["schedule.start", "strength"]),
    ("text prompt on an upscaler", {**upscale_request("rgb", SOURCE, width=48), "prompt": [{"text": "sharper"}, {"artifact": {"type": "ARTIFACT_IMAGE", "binary": png_b64(SOURCE)}}]},
     501, 12, ["prompt", "no text prompt"]),
    ("mask on an upscaler", {**upscale_request("rgb", SOURCE, width=48), "prompt": [
        {"artifact": {"type": "ARTIFACT_IMAGE", "binary": png_b64(SOURCE)}},
        {"artifact": {"type": "ARTIFACT_MASK", "binary": png_b64(SOURCE)}}]}, 501, 12, ["mask"]),
    ("non-image output", {**upscale_request("rgb", SOURCE, width=48), "requestedType": "ARTIFACT_LATENT"}, 501, 12,
     ["requestedType"]),
]


@pytest.mark.parametrize(("body", "status", "code", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_upscale_request(server, body, status, code, words):
    response = server.post(GENERATE, body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"code", "message", "details"}
    assert payload["code"] == code
    for word in words:
        assert word in payload["message"], f"{word!r} not in {payload['message']!r}"
    assert "Traceback" not in response.text
