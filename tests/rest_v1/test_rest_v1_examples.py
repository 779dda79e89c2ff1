"""REST v1 requests in the shapes of Stability's published examples (``requests``, JSON and ``files=``)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import requests
from PIL import Image
from rest_v1_support import assert_rest_error, half_mask, pixels_of, png

from sfumato.testing import RunningServer

ENGINE = "test-pattern"


def generation(server: RunningServer, route: str) -> str:
    return f"{server.url}/v1/generation/{ENGINE}/{route}"


def test_text_to_image_json_as_the_python_example(rest_server: RunningServer) -> None:
    response = requests.post(
        generation(rest_server, "text-to-image"),
        headers={"Content-Type": "application/json", "Accept": "application/json", "Authorization": "Bearer unused"},
        json={"text_prompts": [{"text": "A lighthouse on a cliff"}], "cfg_scale": 7, "height": 1024, "width": 1024,
              "samples": 1, "steps": 30},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:500]
    data = response.json()
    assert list(data) == ["artifacts"] and len(data["artifacts"]) == 1
    artifact = data["artifacts"][0]
    assert set(artifact) == {"base64", "seed", "finishReason"}
    assert artifact["finishReason"] == "SUCCESS" and 0 <= artifact["seed"] < 2**32
    with Image.open(io.BytesIO(base64.b64decode(artifact["base64"]))) as image:
        assert (image.format, image.size) == ("PNG", (1024, 1024))


def test_several_samples_follow_the_seed(rest_server: RunningServer) -> None:
    body = {"text_prompts": [{"text": "a red fox", "weight": 1}, {"text": "blurry", "weight": -0.5}],
            "seed": 4294967294, "samples": 3, "steps": 10, "width": 256, "height": 256, "sampler": "K_EULER_ANCESTRAL"}
    first = requests.post(generation(rest_server, "text-to-image"), json=body, timeout=60).json()["artifacts"]
    again = requests.post(generation(rest_server, "text-to-image"), json=body, timeout=60).json()["artifacts"]
    assert [artifact["seed"] for artifact in first] == [4294967294, 4294967295, 0]
    assert first == again
    assert len({artifact["base64"] for artifact in first}) == 3


def test_accept_image_png_answers_the_png_itself(rest_server: RunningServer) -> None:
    response = requests.post(
        generation(rest_server, "text-to-image"),
        headers={"Accept": "image/png"},
        json={"text_prompts": [{"text": "a lighthouse"}], "seed": 1234, "steps": 10, "width": 512, "height": 384},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "image/png"
    assert response.headers["Finish-Reason"] == "SUCCESS" and response.headers["Seed"] == "1234"
    assert pixels_of(response.content).shape == (384, 512, 3)
    as_json = requests.post(
        generation(rest_server, "text-to-image"),
        json={"text_prompts": [{"text": "a lighthouse"}], "seed": 1234, "steps": 10, "width": 512, "height": 384},
        timeout=60,
    ).json()["artifacts"][0]
    assert base64.b64decode(as_json["base64"]) == response.content


def test_a_browser_may_read_the_png_headers(rest_server: RunningServer) -> None:
    response = requests.post(
        generation(rest_server, "text-to-image"), headers={"Accept": "image/png", "Origin": "http://app.example"},
        json={"text_prompts": [{"text": "a lighthouse"}], "steps": 10, "width": 128, "height": 128}, timeout=60)
    assert response.headers["Access-Control-Allow-Origin"] == "http://app.example"
    exposed = {name.strip().lower() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"finish-reason", "seed"} <= exposed


@pytest.mark.parametrize("mode", ["IMAGE_STRENGTH", "STEP_SCHEDULE"])
def test_image_to_image_multipart_as_the_python_example(rest_server: RunningServer, tmp_path, mode: str) -> None:
    init_path = tmp_path / "init_image.png"
    init_path.write_bytes(png(320, 192))
    fields = {"image_strength": 0.35} if mode == "IMAGE_STRENGTH" else {"step_schedule_start": 0.65,
                                                                       "step_schedule_end": 0.01}
    with init_path.open("rb") as init_file:
        response = requests.post(
            generation(rest_server, "image-to-image"),
            headers={"Accept": "application/json", "Authorization": "Bearer unused"},
            files={"init_image": init_file},  # requests sends this part without a Content-Type
            data={**fields, "init_image_mode": mode, "text_prompts[0][text]": "Galactic dog with a cape",
                  "cfg_scale": 7, "samples": 1, "steps": 30},
            timeout=60,
        )
    assert response.status_code == 200, response.text[:500]
    artifact = response.json()["artifacts"][0]
    result = pixels_of(base64.b64decode(artifact["base64"]))
    assert result.shape == (192, 320, 3)  # the init image's size
    assert not np.array_equal(result, pixels_of(init_path.read_bytes()))


def test_both_modes_give_the_same_image_for_the_same_schedule(rest_server: RunningServer) -> None:
    init = png(256, 256)
    common = {"text_prompts[0][text]": "a dog", "seed": 9, "steps": 10}
    by_strength = requests.post(generation(rest_server, "image-to-image"), files={"init_image": init},
                                data={**common, "image_strength": 0.25}, timeout=60)
    by_schedule = requests.post(generation(rest_server, "image-to-image"), files={"init_image": init},
                                data={**common, "init_image_mode": "STEP_SCHEDULE", "step_schedule_start": 0.75},
                                timeout=60)
    assert by_strength.json() == by_schedule.json()
    other = requests.post(generation(rest_server, "image-to-image"), files={"init_image": init},
                          data={**common, "image_strength": 0.9}, timeout=60)
    assert other.json() != by_strength.json()


def test_jpeg_and_webp_init_images_are_recognised_from_their_bytes(rest_server: RunningServer) -> None:
    pixels = pixels_of(png(256, 128))
    for kind in ("JPEG", "WEBP"):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=kind)
        response = requests.post(generation(rest_server, "image-to-image"),
                                 files={"init_image": ("photo.bin", buffer.getvalue(), "application/octet-stream")},
                                 data={"text_prompts[0][text]": "a dog", "steps": 10}, timeout=60)
        assert response.status_code == 200, (kind, response.text[:300])
        assert pixels_of(base64.b64decode(response.json()["artifacts"][0]["base64"])).shape == (128, 256, 3)


# mask_source → (files besides init_image, which half the init image's alpha or the mask marks for repainting)
MASKS = {
    "MASK_IMAGE_WHITE": {"mask_image": half_mask(left=255)},  # white left half: repaint the left
    "MASK_IMAGE_BLACK": {"mask_image": half_mask(left=0)},  # black left half: repaint the left
    "INIT_IMAGE_ALPHA": {},  # transparent left half: repaint the left
}


@pytest.mark.parametrize("mask_source", sorted(MASKS))
def test_masking_repaints_only_the_masked_half(rest_server: RunningServer, mask_source: str) -> None:
    init = png(256, 256, alpha_left=mask_source == "INIT_IMAGE_ALPHA")
    response = requests.post(
        generation(rest_server, "image-to-image/masking"),
        headers={"Accept": "application/json"},
        files={"init_image": init, **MASKS[mask_source]},
        data={"mask_source": mask_source, "text_prompts[0][text]": "A large spiral galaxy with a bright central bulge",
              "cfg_scale": 7, "clip_guidance_preset": "FAST_BLUE", "samples": 1, "steps": 30},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:500]
    result = pixels_of(base64.b64decode(response.json()["artifacts"][0]["base64"]))
    original = pixels_of(init)
    assert np.array_equal(result[:, 128:], original[:, 128:])  # kept exactly
    assert (result[:, :128] != original[:, :128]).mean() > 0.5  # repainted


def test_engines_list_is_a_bare_array(rest_server: RunningServer) -> None:
    engines = requests.get(f"{rest_server.url}/v1/engines/list", timeout=10).json()
    assert engines == [{"id": "test-pattern", "name": "Test pattern", "description": engines[0]["description"],
                        "type": "PICTURE"}]


def test_user_account_and_balance_are_a_fixed_local_answer(rest_server: RunningServer) -> None:
    account = requests.get(f"{rest_server.url}/v1/user/account", timeout=10).json()
    assert set(account) == {"id", "email", "profile_picture", "organizations"}
    assert account["organizations"][0]["is_default"] is True
    balance = requests.get(f"{rest_server.url}/v1/user/balance", timeout=10).json()
    assert set(balance) == {"credits"} and balance["credits"] > 0


def test_upscale_without_an_upscaling_engine_is_an_unknown_engine(rest_server: RunningServer) -> None:
    response = requests.post(generation(rest_server, "image-to-image/upscale"), files={"image": png(64, 64)},
                             data={"width": 1024}, timeout=60)
    assert_rest_error(response, 404, "not_found", "'test-pattern' is not an upscaling engine")


def test_the_routes_are_in_the_openapi_document(rest_server: RunningServer) -> None:
    document = requests.get(f"{rest_server.url}/schema/openapi.json", timeout=10).json()
    routes = {path: item for path, item in document["paths"].items() if path.startswith("/v1/")}
    assert set(routes) == {
        "/v1/generation/{engine_id}/text-to-image", "/v1/generation/{engine_id}/image-to-image",
        "/v1/generation/{engine_id}/image-to-image/masking", "/v1/generation/{engine_id}/image-to-image/upscale",
        "/v1/engines/list", "/v1/user/account", "/v1/user/balance",
    }
    for item in routes.values():
        for operation in item.values():
            assert operation["tags"] == ["REST v1"]
    masking = routes["/v1/generation/{engine_id}/image-to-image/masking"]["post"]
    assert list(masking["requestBody"]["content"]) == ["multipart/form-data"]
    assert set(masking["responses"]["200"]["content"]) == {"application/json", "image/png"}
    schema = document["components"]["schemas"]["MaskingOptions"]
    assert schema["properties"]["init_image"]["format"] == "binary"
    assert set(schema["required"]) == {"init_image", "mask_source", "text_prompts"}
    text = routes["/v1/generation/{engine_id}/text-to-image"]["post"]
    assert list(text["requestBody"]["content"]) == ["application/json"]
    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["id", "message", "name"]


def images_counted(server: RunningServer) -> float:
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    lines = [line for line in metrics.splitlines() if line.startswith('sfumato_images_total{engine="test-pattern"}')]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_rest_generations_are_in_the_metrics(rest_server: RunningServer) -> None:
    before = images_counted(rest_server)
    response = requests.post(generation(rest_server, "text-to-image"), timeout=60, json={
        "text_prompts": [{"text": "counted"}], "samples": 3, "steps": 10, "width": 128, "height": 128})
    assert response.status_code == 200
    assert images_counted(rest_server) == before + 3
