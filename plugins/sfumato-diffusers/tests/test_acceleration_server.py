"""The GPU-path options from a server's TOML: they reach the engine, its images match the plain
engine's within the stated tolerance, and a misplaced option stops the server at start, naming it."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from sfumato.testing import RequestBuilder, start_server

CONFIG = """
[quotas]
requests_per_minute = 0

[[engines]]
id = "plain"
kind = "diffusers"
model = "tiny-sd"

[[engines]]
id = "fast"
kind = "diffusers"
model = "tiny-sd"
options = { channels_last = true, fuse_qkv = true, vae_dtype = "float16" }
"""
MISPLACED = """
[[engines]]
id = "misplaced"
kind = "diffusers"
model = "tiny-sd"
options = { compile_warmup_sizes = [64] }
"""


def _pixels(answer: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["artifacts"][0]["binary"])))).astype(int)


@pytest.mark.slow  # a server loading two engines
def test_the_options_work_from_the_config_file(tmp_path):
    server = start_server(tmp_path, config=CONFIG, plugins=["diffusers"], wait_ready=False)
    try:
        report = server.engines_settled()
        assert report["plain"]["ready"] and report["fast"]["ready"], report

        def request(engine: str) -> dict:
            return RequestBuilder().engine(engine).prompt("a red cat").size(64, 64).seeds(5).steps(4).build()

        (plain,), (fast,) = server.generate(request("plain")), server.generate(request("fast"))
        assert np.abs(_pixels(plain) - _pixels(fast)).max() <= 2  # the float16 VAE's tolerance
    finally:
        server.stop()


def test_a_compile_setting_without_compile_stops_the_server_naming_it(tmp_path):
    with pytest.raises(RuntimeError, match=r"engine 'misplaced'.*options\.compile_warmup_sizes only applies"):
        start_server(tmp_path, config=MISPLACED, plugins=["diffusers"], timeout=60)
