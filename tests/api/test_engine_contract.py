"""The engine contract against a third-party-style plugin installed as its own distribution.

A minimal engine (describe + generate on the Engine base class) serves requests; a
misconfigured default sampler fails its engine at startup; plugin bugs (batch_key
raising, the wrong image count or shape, an adjustment raising) answer INTERNAL naming
the engine or adjustment and the distribution, with the traceback in the log, while
the other engines keep serving.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from sfumato.testing import RunningServer, parse_stream, start_server
from tests.conftest import png_bytes

DISTRIBUTION = "sfumato-contract-fixture 1.2.3"

CONFIG = """
[server]
default_engine = "minimal"

[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[[engines]]
id = "minimal"
kind = "contract-minimal"

[[engines]]
id = "misconfigured"
kind = "contract-minimal"
default_sampler = "SAMPLER_NOPE"

[[engines]]
id = "bad-key"
kind = "contract-faulty"
options = { fault = "batch_key" }

[[engines]]
id = "bad-validate"
kind = "contract-faulty"
options = { fault = "validate" }

[[engines]]
id = "bad-count"
kind = "contract-faulty"
options = { fault = "count" }

[[engines]]
id = "bad-shape"
kind = "contract-faulty"
options = { fault = "shape" }
"""


def _install_fixture(root: Path) -> Path:
    """The plugin module plus a dist-info folder: what ``pip install`` would leave on sys.path."""
    site = root / "site"
    site.mkdir()
    shutil.copy(Path(__file__).with_name("engine_contract_plugin.py"), site / "engine_contract_plugin.py")
    info = site / "sfumato_contract_fixture-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sfumato-contract-fixture\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[sfumato]\ncontract = engine_contract_plugin\n")
    (info / "top_level.txt").write_text("engine_contract_plugin\n")
    return site


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("contract")
    site = _install_fixture(root)
    # One engine never loads, so /readyz stays 503: wait for the others through /plugins.
    running = start_server(root, config=CONFIG, plugins=["contract"], env={"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}, wait_ready=False)
    deadline = time.monotonic() + 60
    while True:
        response = httpx.get(running.url + "/plugins", timeout=5)
        engines = {e["id"]: e for e in response.json()["engines"]} if response.status_code == 200 else {}
        serving = ("minimal", "bad-key", "bad-count", "bad-shape")
        if all(engines.get(engine_id, {}).get("ready") for engine_id in serving):
            break
        assert time.monotonic() < deadline, running.log()
        time.sleep(0.05)
    yield running
    running.stop()


def generate(server: RunningServer, engine: str, **image: object) -> httpx.Response:
    body = {"engineId": engine, "prompt": [{"text": "a test"}], "image": {"seed": [7], **image}}
    return server.post("/grpcgateway/generate", body)


def test_a_minimal_engine_serves_requests(server):
    response = generate(server, "minimal", samples="2", steps="3")
    assert response.status_code == 200, response.text
    answers, error = parse_stream(response.content)
    assert error is None and len(answers) == 2


def test_a_wrong_default_sampler_fails_the_engine_naming_the_config_key(server):
    engines = {e["id"]: e for e in httpx.get(server.url + "/plugins", timeout=5).json()["engines"]}
    failed = engines["misconfigured"]
    assert not failed["ready"] and failed["status"] == "failed"
    assert "engines[1].default_sampler" in failed["error"] and "SAMPLER_NOPE" in failed["error"]
    assert "SAMPLER_CONTRACT_FLAT" in failed["error"]  # what to set instead
    response = generate(server, "misconfigured")
    assert response.status_code == 503
    assert "engines[1].default_sampler" in response.json()["message"]
    assert httpx.get(server.url + "/readyz", timeout=5).status_code == 503


@pytest.mark.parametrize(
    ("engine", "detail"),
    [
        ("bad-validate", "validate(): KeyError: 'a bug in the admission check'"),
        ("bad-key", "batch_key(): RuntimeError: the key went missing"),
        ("bad-count", "generate() returned 2 images for 1 tasks"),
        ("bad-shape", "generate() returned an image of shape (32, 24, 3)"),
    ],
)
def test_engine_bugs_are_internal_naming_the_engine_and_its_distribution(server, engine, detail):
    response = generate(server, engine)
    assert response.status_code == 500, response.text
    body = response.json()
    assert body["code"] == 13
    message = body["message"]
    assert f"engine {engine!r}" in message and "kind 'contract-faulty'" in message
    assert "plugin 'contract'" in message and f"distribution {DISTRIBUTION}" in message
    assert detail in message
    log = server.log()
    assert "Traceback" in log and engine in log
    # The server and the other engines keep serving.
    assert generate(server, "minimal").status_code == 200


def test_an_adjustment_raising_is_internal_naming_it_and_its_distribution(server):
    init = png_bytes(np.zeros((32, 32, 3), dtype=np.uint8))
    body = {
        "engineId": "bad-count",
        "prompt": [
            {"text": "a test"},
            {"artifact": {"type": "ARTIFACT_IMAGE", "binary": base64.b64encode(init).decode(),
                          "adjustments": [{"explode": {"force": 2}}]}},
        ],
    }
    response = server.post("/grpcgateway/generate", body)
    assert response.status_code == 500, response.text
    message = response.json()["message"]
    assert message.startswith("prompt[1].artifact.adjustments[0].explode: adjustment 'explode'")
    assert f"distribution {DISTRIBUTION}" in message and "RuntimeError: kaboom" in message
    assert "RuntimeError: kaboom" in server.log() and "Traceback" in server.log()
    assert generate(server, "minimal").status_code == 200


@pytest.mark.parametrize(
    ("prompt", "image", "path", "parameter"),
    [
        ([{"text": "a test"}], {"parameters": [{"sampler": {"cfgScale": 9}}]},
         "image.parameters[0].sampler.cfgScale", "cfg_scale"),
        ([{"text": "a test"}, {"text": "blurry", "parameters": {"weight": -1}}], {},
         "prompt[1].parameters.weight", "negative_prompt"),
    ],
)
def test_a_standard_parameter_the_engine_does_not_use_is_refused(server, prompt, image, path, parameter):
    response = server.post("/grpcgateway/generate", {"engineId": "minimal", "prompt": prompt, "image": image})
    assert response.status_code == 501, response.text
    message = response.json()["message"]
    assert message.startswith(f"{path}: engine 'minimal' does not use {parameter}")
    assert message.endswith("(the standard parameters it uses: sampler, seed, steps)")


def test_parameters_the_engine_uses_are_accepted(server):
    response = generate(server, "minimal", steps="2", transform={"diffusion": "SAMPLER_CONTRACT_FLAT"})
    assert response.status_code == 200, response.text
