"""ARTIFACT_CLASSIFICATIONS over the API, on a tiny model whose random safety checker flags everything."""

from __future__ import annotations

import base64
import json

import pytest

from sfumato.testing import RequestBuilder, start_server
from tests.conftest import decode_png

pytestmark = pytest.mark.torch


def test_classifications_answer_reports_the_checker_verdict(tmp_path):
    from sfumato_diffusers.tiny import build_tiny_pipeline

    model = build_tiny_pipeline(tmp_path / "flagging", safety_flags=True)
    config = f"""
[quotas]
requests_per_minute = 0

[[engines]]
id = "checked"
kind = "diffusers"
model = "{model}"
default_steps = 2
options = {{ safety_checker = "flag" }}
"""
    server = start_server(tmp_path, config=config, plugins=["diffusers"])
    try:
        body = RequestBuilder().engine("checked").prompt("a cat").size(64, 64).seeds(1).build()
        image = server.generate(body)[0]["artifacts"][0]
        assert image["finishReason"] == "FILTER"
        assert decode_png(base64.b64decode(image["binary"])).std() > 1.0  # flagged, not blacked out
        (verdict,) = server.generate(dict(body, requestedType="ARTIFACT_CLASSIFICATIONS"))[0]["artifacts"]
        assert verdict["type"] == "ARTIFACT_CLASSIFICATIONS" and verdict["mime"] == "application/json"
        assert verdict["finishReason"] == "FILTER"
        classifier = json.loads(verdict["text"])
        assert [c["name"] for c in classifier["exceeds"]] == ["nsfw"]
        assert classifier["realizedAction"] == "ACTION_PASSTHROUGH"
    finally:
        server.stop()
