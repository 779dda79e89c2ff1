"""The playground with the tiny-sd diffusers engine, and on a server that requires an API key."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sfumato.testing import RunningServer, start_server
from tests.browser.conftest import PATTERN_CONFIG, _require_browser, open_page, screenshot
from tests.browser.test_playground import assert_progress_moved, gallery_images, progress_seen, record_progress, wait_done
from tests.conftest import decode_png

TINY_CONFIG = """
[quotas]
requests_per_minute = 0
max_active_jobs = 0
max_queued_jobs = 0

[events]
# Previews at every step: the test watches them appear on a job of a second or two.
preview_min_interval_ms = 0
# Every step its own write: on an idle machine tiny-sd's steps are faster than the default pacing.
send_interval_ms = 0

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
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    _require_browser()
    folder = tmp_path_factory.mktemp("tiny-browser")
    server = start_server(folder, config=TINY_CONFIG, plugins=["diffusers"])
    yield server, folder / "cache" / "tiny-sd"
    server.stop()


def tiny_request(sampler: str, steps: int, lora: bytes | None = None) -> dict:
    prompt: list[dict] = [{"text": "a red cat"}]
    if lora is not None:
        prompt.append({"artifact": {"type": "ARTIFACT_LORA", "binary": base64.b64encode(lora).decode()},
                       "parameters": {"weight": 1}})
    return {"engineId": "tiny-sd", "prompt": prompt,
            "image": {"width": 64, "height": 64, "steps": steps, "seed": [3], "parameters": [{"sampler": {"cfgScale": 7}}],
                      "transform": {"diffusion": sampler}}}


def fill_tiny(page, steps: int) -> None:  # type: ignore[no-untyped-def]
    page.select_option("#engine", "tiny-sd")
    page.fill("#prompt", "a red cat")
    page.fill("#width", "64")
    page.fill("#height", "64")
    page.fill("#steps", str(steps))
    page.select_option("#seed-mode", "fixed")
    page.fill("#seed", "3")


@pytest.mark.torch
@pytest.mark.slow  # the diffusers engine loads for a minute on a small CPU machine
def test_generates_on_tiny_sd_with_progress_previews_and_a_lora(browser, tiny_server, tmp_path):
    server, model_path = tiny_server
    context, page, guard = open_page(browser, server)
    page.goto(server.url + "/")
    page.wait_for_selector("#engine option[value=tiny-sd]", state="attached")
    fill_tiny(page, 12)
    record_progress(page)
    page.click("#generate")
    assert wait_done(page, timeout=120_000).startswith("Done"), page.text_content("#status")
    values, previews = progress_seen(page)
    assert_progress_moved(values)
    assert len(set(previews)) >= 2, "no live previews from the diffusers engine"
    screenshot(page, "10-tiny-sd")
    [(seed, shown)] = gallery_images(page)
    assert seed == 3
    sampler = page.input_value("#sampler")
    expected = server.generate(tiny_request(sampler, 12))[0]
    np.testing.assert_array_equal(shown, decode_png(base64.b64decode(expected["artifacts"][0]["binary"])))

    from sfumato_diffusers.tiny import make_tiny_lora

    lora = make_tiny_lora(model_path, layout="kohya", seed=1, scale=2.0)
    (tmp_path / "cat.safetensors").write_bytes(lora)
    page.set_input_files("#lora-file", str(tmp_path / "cat.safetensors"))
    page.fill("#lora-weight", "1")
    page.wait_for_function("document.getElementById('request-text').textContent.includes('ARTIFACT_LORA')")
    page.click("#generate")
    assert wait_done(page, timeout=120_000).startswith("Done"), page.text_content("#status")
    with_lora = gallery_images(page)[0][1]
    reference = server.generate(tiny_request(sampler, 12, lora))[0]
    np.testing.assert_array_equal(with_lora, decode_png(base64.b64decode(reference["artifacts"][0]["binary"])))
    assert not np.array_equal(with_lora, shown)
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
    page.wait_for_selector("#engine option[value=test-pattern]", state="attached")
    page.fill("#prompt", "with a key")
    page.fill("#width", "64")
    page.fill("#height", "64")
    page.click("#generate")
    assert wait_done(page).startswith("Done"), page.text_content("#status")
    page.reload()
    page.wait_for_selector("#engine option[value=test-pattern]", state="attached")
    assert page.input_value("#api-key") == "k-playground-test"
    context.close()
    assert guard.foreign_requests == [] and guard.unexpected_errors() == []
