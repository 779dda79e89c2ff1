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
