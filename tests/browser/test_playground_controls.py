"""The playground offers only what the chosen engine supports (its `uses`, `supports` and extensions)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sfumato.testing import RunningServer, start_server
from tests.browser.conftest import _require_browser, open_page, screenshot
from tests.browser.test_playground import gallery_images, wait_done

PLUGIN = Path(__file__).parents[1] / "api" / "engine_contract_plugin.py"
CONFIG = """
[quotas]
requests_per_minute = 0

[[engines]]
id = "test-pattern"
kind = "test-pattern"

[[engines]]
id = "minimal"
kind = "contract-minimal"
"""


@pytest.fixture(scope="module")
def two_engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    _require_browser()
    root = tmp_path_factory.mktemp("controls")
    # The plugin as pip would leave it: the module and a dist-info folder naming its entry point.
    site = root / "site"
    info = site / "sfumato_contract_fixture-1.0.dist-info"
    info.mkdir(parents=True)
    shutil.copy(PLUGIN, site / PLUGIN.name)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sfumato-contract-fixture\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[sfumato]\ncontract = engine_contract_plugin\n")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    server = start_server(root, config=CONFIG, plugins=["contract", "test_pattern"], env={"PYTHONPATH": path})
    yield server
    server.stop()


def shown(page, selector: str) -> bool:  # type: ignore[no-untyped-def]
    return page.is_visible(selector)


def test_controls_follow_the_engine(browser, two_engines):
    context, page, guard = open_page(browser, two_engines)
    page.goto(two_engines.url + "/")
    page.wait_for_selector("#engine option[value=minimal]", state="attached")
    with two_engines.client() as client:
        report = {engine["id"]: engine for engine in client.get("/plugins").json()["engines"]}

    page.select_option("#engine", "test-pattern")
    for selector in ["#negative", "#cfg", "#init-file", "#sampler", "#steps", "#seed-mode", "#ext-pattern"]:
        assert shown(page, selector), selector
    assert not shown(page, "#lora-file")  # test-pattern takes no LoRA
    names = page.eval_on_selector_all("[data-extension]", "inputs => inputs.map((input) => input.dataset.extension)")
    assert names == [param["name"] for param in report["test-pattern"]["extensions"]]

    page.select_option("#engine", "minimal")
    assert report["minimal"]["uses"] == ["sampler", "seed", "steps"]
    for selector in ["#sampler", "#steps", "#seed-mode", "#width", "#samples"]:
        assert shown(page, selector), selector
    for selector in ["#negative", "#cfg", "#init-file", "#lora-file", "#extensions"]:
        assert not shown(page, selector), selector
    assert page.input_value("#width") == "32" and page.input_value("#steps") == "2"
    assert page.input_value("#sampler") == "SAMPLER_CONTRACT_FLAT"
    screenshot(page, "12-minimal-engine")

    # Values left in hidden controls are not sent: the engine would refuse them (501).
    page.fill("#prompt", "flat")
    page.select_option("#seed-mode", "fixed")
    page.fill("#seed", "77")
    page.click("#generate")
    assert wait_done(page).startswith("Done"), page.text_content("#status")
    [(seed, image)] = gallery_images(page)
    assert seed == 77 and image.shape == (32, 32, 3) and (image == 77).all()
    context.close()
    assert guard.foreign_requests == [] and guard.unexpected_errors() == []


UPSCALE_CONFIG = """
[quotas]
requests_per_minute = 0

[[engines]]
id = "test-pattern"
kind = "test-pattern"

[[engines]]
id = "rgb-upscaler"
kind = "rgb-upscale"
"""


@pytest.fixture(scope="module")
def upscale_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    _require_browser()
    server = start_server(tmp_path_factory.mktemp("upscale"), config=UPSCALE_CONFIG, plugins=["test_pattern", "upscale"])
    yield server
    server.stop()


def test_an_upscaling_engine_takes_an_init_image_and_a_size(browser, upscale_server, tmp_path, rng):
    import base64

    from tests.conftest import decode_png, png_bytes

    context, page, guard = open_page(browser, upscale_server)
    page.goto(upscale_server.url + "/")
    page.wait_for_selector("#engine option[value=rgb-upscaler]", state="attached")
    page.fill("#prompt", "left from another engine")
    page.select_option("#engine", "rgb-upscaler")
    for selector in ["#prompt", "#negative", "#sampler", "#steps", "#cfg", "#seed-mode"]:
        assert not shown(page, selector), selector
    assert shown(page, "#upscaler") and page.input_value("#upscaler") == "UPSCALER_RGB"
    init = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    (tmp_path / "small.png").write_bytes(png_bytes(init))
    page.set_input_files("#init-file", str(tmp_path / "small.png"))
    page.wait_for_selector("#init-tools:not([hidden])")
    assert not shown(page, "#mask-canvas") and not shown(page, "#strength")
    assert page.input_value("#width") == ""  # the engine's default factor unless a size is typed
    page.fill("#width", "64")
    page.click("#generate")
    assert wait_done(page).startswith("Done"), page.text_content("#status")
    screenshot(page, "13-upscaled")
    [(_, image)] = gallery_images(page)
    assert image.shape == (48, 64, 3)
    direct = upscale_server.generate({
        "engineId": "rgb-upscaler",
        "prompt": [{"artifact": {"type": "ARTIFACT_IMAGE", "binary": base64.b64encode(png_bytes(init)).decode()}}],
        "image": {"width": 64, "samples": 1, "transform": {"upscaler": "UPSCALER_RGB"}},
    })[0]
    np.testing.assert_array_equal(image, decode_png(base64.b64decode(direct["artifacts"][0]["binary"])))
    context.close()
    assert guard.foreign_requests == [] and guard.unexpected_errors() == []
