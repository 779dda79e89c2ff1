"""The embedded default config: rgb-upscaler and tiny-upscaler work out of the box, and are skipped
when this plugin is not loaded."""

from __future__ import annotations

import pytest

from sfumato.testing import start_server

from _upscale_support import noise_image, upscale_request


@pytest.mark.slow
def test_embedded_upscalers_serve(tmp_path):
    server = start_server(tmp_path, plugins=["upscale", "test_pattern"])  # no config: the embedded default
    try:
        engines = {engine["id"] for engine in server.post("/grpcgateway/engines", {}).json()["engine"]}
        assert {"test-pattern", "rgb-upscaler", "tiny-upscaler"} <= engines
        for engine, upscaler in (("rgb-upscaler", "UPSCALER_RGB"), ("tiny-upscaler", "UPSCALER_ESRGAN")):
            (answer,) = server.generate(upscale_request(engine, noise_image(24, 32), upscaler=upscaler, width=128))
            assert answer["artifacts"][0]["mime"] == "image/png"
        assert list((tmp_path / "cache" / "tiny-upscaler").glob("tiny-upscaler-x4.safetensors"))
    finally:
        server.stop()


@pytest.mark.slow
def test_embedded_default_without_the_plugin(tmp_path):
    server = start_server(tmp_path, plugins=["test_pattern"])
    try:
        engines = [engine["id"] for engine in server.post("/grpcgateway/engines", {}).json()["engine"]]
        assert engines == ["test-pattern"]
    finally:
        server.stop()
