"""REST v1 upscale on the sfumato-upscale plugin's model-free engine (rgb-upscale)."""

from __future__ import annotations

import base64
import importlib.util
from collections.abc import Iterator

import pytest
import requests
from rest_v1_support import CONFIG, assert_rest_error, pixels_of, png

from sfumato.testing import RunningServer, missing_component, start_server

if importlib.util.find_spec("sfumato_upscale") is None:
    missing_component("the sfumato-upscale plugin is not installed (make setup installs it)")

UPSCALE_CONFIG = CONFIG + """
[[engines]]
id = "rgb-upscale"
kind = "rgb-upscale"
"""


@pytest.fixture(scope="module")
def upscale_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("rest-v1-upscale"), config=UPSCALE_CONFIG,
                           plugins=["test_pattern", "upscale"])
    yield running
    running.stop()


def url(server: RunningServer, engine: str, route: str = "image-to-image/upscale") -> str:
    return f"{server.url}/v1/generation/{engine}/{route}"


def test_upscale_to_a_width_keeps_the_aspect_ratio(upscale_server: RunningServer) -> None:
    image = png(256, 128)
    response = requests.post(url(upscale_server, "rgb-upscale"), headers={"Accept": "application/json"},
                             files={"image": image}, data={"width": 1024}, timeout=60)
    assert response.status_code == 200, response.text[:500]
    rest = base64.b64decode(response.json()["artifacts"][0]["base64"])
    assert pixels_of(rest).shape == (512, 1024, 3)
    gateway = upscale_server.generate({
        "engineId": "rgb-upscale",
        "prompt": [{"artifact": {"type": "ARTIFACT_IMAGE", "binary": base64.b64encode(image).decode()}}],
        "image": {"width": "1024", "transform": {"upscaler": "UPSCALER_RGB"}},
    })
    # The PNG's text chunk holds the (random) seed; the pixels must be the same.
    assert (pixels_of(base64.b64decode(gateway[0]["artifacts"][0]["binary"])) == pixels_of(rest)).all()


def test_upscale_by_the_default_factor_as_png(upscale_server: RunningServer) -> None:
    response = requests.post(url(upscale_server, "rgb-upscale"), headers={"Accept": "image/png"},
                             files={"image": png(200, 100)}, timeout=60)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Finish-Reason"] == "SUCCESS"
    assert pixels_of(response.content).shape == (200, 400, 3)


def test_upscale_refusals(upscale_server: RunningServer) -> None:
    both = requests.post(url(upscale_server, "rgb-upscale"), files={"image": png(256, 128)},
                         data={"width": 1024, "height": 512}, timeout=60)
    assert_rest_error(both, 400, "bad_request", "width and height: send one of them")
    small = requests.post(url(upscale_server, "rgb-upscale"), files={"image": png(256, 128)}, data={"width": 256},
                          timeout=60)
    assert_rest_error(small, 400, "invalid_height_or_width", "width", ">= 512")
    huge = requests.post(url(upscale_server, "rgb-upscale"), files={"image": png(64, 64)}, data={"width": 4096},
                         timeout=60)
    assert_rest_error(huge, 400, "invalid_pixel_count", "4096×4096", "4194304")
    no_image = requests.post(url(upscale_server, "rgb-upscale"), files={"width": (None, "1024")}, timeout=60)
    assert_rest_error(no_image, 400, "bad_request", "image: required")
    generator = requests.post(url(upscale_server, "test-pattern"), files={"image": png(64, 64)}, timeout=60)
    assert_rest_error(generator, 404, "not_found", "'test-pattern' is not an upscaling engine", "rgb-upscale")
    text = requests.post(url(upscale_server, "rgb-upscale", "text-to-image"), json={"text_prompts": [{"text": "x"}]},
                         timeout=60)
    assert_rest_error(text, 400, "bad_request", "only upscales images", "/image-to-image/upscale")
