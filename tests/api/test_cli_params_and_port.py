"""``sfumato generate --param`` and ``sfumato serve`` on a busy port."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image
from sfumato.cli import build_parser, parse_param

from tests.api.test_cli import run_cli


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steps_hint=12", ("steps_hint", "int", "12")),
        ("angle=-0.5", ("angle", "float", -0.5)),
        ("scale=1e3", ("scale", "float", 1000.0)),
        ("pattern=rings", ("pattern", "str", "rings")),
        ("label=", ("label", "str", "")),
        ("code:str=007", ("code", "str", "007")),
        ("angle:float=90", ("angle", "float", 90.0)),
        ("count:int=+3", ("count", "int", "3")),
        ("text=a=b", ("text", "str", "a=b")),
        ("nan_is_text=nan", ("nan_is_text", "str", "nan")),
    ],
)
def test_param_values_are_typed(text, expected):
    assert parse_param(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("no-equals", "NAME=VALUE"),
        ("=3", "name is empty"),
        ("n:bool=1", "not one of int, float, str"),
        ("n:int=1.5", "not a whole number"),
        ("n:float=x", "not a number"),
        ("n:float=inf", "not a finite number"),
    ],
)
def test_bad_params_are_usage_errors(text, words):
    with pytest.raises(argparse.ArgumentTypeError, match=words):
        parse_param(text)


def test_params_become_extension_parameters():
    from sfumato.cli import _request_body

    args = build_parser().parse_args(["generate", "x", "--param", "pattern=rings", "--param", "step_delay_ms=5"])
    assert _request_body(args)["image"]["extension"] == {
        "parameters": [{"name": "pattern", "str": "rings"}, {"name": "step_delay_ms", "int": "5"}]
    }
    assert "extension" not in _request_body(build_parser().parse_args(["generate", "x"]))["image"]


def test_generate_sends_params(server, tmp_path):
    images = {}
    for pattern in ("waves", "checker"):
        output = tmp_path / f"{pattern}.png"
        run_cli("generate", "a fox", "-o", str(output), "--server", server.url, "--seed", "3",
                "--width", "32", "--height", "32", "--steps", "2", "--param", f"pattern={pattern}")
        images[pattern] = np.asarray(Image.open(output))
    assert not np.array_equal(images["waves"], images["checker"])
    refused = run_cli("generate", "a fox", "-o", str(tmp_path / "x.png"), "--server", server.url,
                      "--param", "colour=red", check=False)
    assert refused.returncode == 1 and "HTTP 400" in refused.stderr and "colour" in refused.stderr
    usage = run_cli("generate", "a fox", "--server", server.url, "--param", "pattern", check=False)
    assert usage.returncode == 2 and "NAME=VALUE" in usage.stderr


def test_serve_on_a_busy_port_fails_first_and_cleanly(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        # A plugin that cannot load would fail the start too: the port must be reported first.
        result = subprocess.run(
            [sys.executable, "-m", "sfumato", "serve", "--port", str(port), "--strict", "--only-plugins", "no_such_plugin"],
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0], result.stderr
    assert time.monotonic() - started < 30
