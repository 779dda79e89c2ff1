"""The playground with the tiny-sd diffusers engine, and on a server that requires an API key."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import numpy as np
import pytest

from sfumato.testing import RunningServer, start_server
from tests.browser.conftest import PATTERN_CONFIG, _require_browser, open_page, screenshot
from tests.browser.test_playground import gallery_images, wait_done
from tests.conftest import decode_png

TINY_CONFIG = """
[quotas]
requests_per_minute = 0
max_active_jobs = 0
max_queued_jobs = 0

[[engines]]
id = "tiny-sd"
kind = "diffusers"
model = "tiny-sd"
default_steps = 4
[engines.limits]
max_width = 256
max_height = 256
max_pixels = 65536
"""


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    _require_browser()
    server = start_server(tmp_path_factory.mktemp("tiny-browser"), config=TINY_CONFIG, plugins=["diffusers"])
    yield server
    server.stop()


@pytest.mark.torch
def test_generates_on_tiny_sd_with_progress_and_the_same_image_as_the_api(browser, tiny_server):
    context, page, guard = open_page(browser, tiny_server)
    page.goto(tiny_server.url + "/")
    page.wait_for_selector("#engine option[value=tiny-sd]")
    page.fill("#prompt", "a red cat")
    page.fill("#width", "64")
    page.fill("#height", "64")
    page.fill("#steps", "8")
    page.select_option("#seed-mode", "fixed")
    page.fill("#seed", "3")
    page.click("#generate")
    assert wait_done(page, timeout=120_000).startswith("Done"), page.text_content("#status")
    screenshot(page, "10-tiny-sd")
    [(seed, shown)] = gallery_images(page)
    assert seed == 3
    body = {"engineId": "tiny-sd", "prompt": [{"text": "a red cat"}],
            "image": {"width": 64, "height": 64, "steps": 8, "seed": [3], "parameters": [{"sampler": {"cfgScale": 7}}],
                      "transform": {"diffusion": page.input_value("#sampler")}}}
    answer = tiny_server.generate(body)[0]
    np.testing.assert_array_equal(shown, decode_png(base64.b64decode(answer["artifacts"][0]["binary"])))
    context.close()
    assert guard.foreign_requests == [] and guard.unexpected_errors() == []


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    _require_browser()
    server = start_server(tmp_path_factory.mktemp("keyed"), config=PATTERN_CONFIG, plugins=["test_pattern"],
                          api_key="k-playground-test")
    yield server
    server.stop()


def test_asks_for_the_api_key_and_keeps_it(browser, keyed_server):
    context, page, guard = open_page(browser, keyed_server)
    guard.expected_errors.append("status of 401")  # the first, keyless call is refused
    page.goto(keyed_server.url + "/")
    page.wait_for_selector("#error-key:not(:empty)")
    assert page.evaluate("document.getElementById('key-panel').open")
    assert "Authorization" in page.text_content("#error-key")
    page.fill("#api-key", "k-playground-test")
    page.press("#api-key", "Enter")
    page.wait_for_selector("#engine option[value=test-pattern]")
    page.fill("#prompt", "with a key")
    page.fill("#width", "64")
    page.fill("#height", "64")
    page.click("#generate")
    assert wait_done(page).startswith("Done"), page.text_content("#status")
    page.reload()
    page.wait_for_selector("#engine option[value=test-pattern]")
    assert page.input_value("#api-key") == "k-playground-test"
    context.close()
    assert guard.foreign_requests == [] and guard.unexpected_errors() == []
