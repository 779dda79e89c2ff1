"""Locating and running the stability-sdk reference interpreter (a separate venv)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("sdk_reference.py")
DEFAULT = "~/.cache/sfumato/sdk-venv/bin/python"


def sdk_python() -> str:
    """The interpreter with stability-sdk 0.8.6; fails (never skips) when it is missing."""
    path = Path(os.path.expanduser(os.environ.get("SFUMATO_SDK_PYTHON", DEFAULT)))
    if not path.exists():
        pytest.fail(f"stability-sdk reference interpreter not found at {path}: run `make sdk-venv` "
                    "(or point SFUMATO_SDK_PYTHON at a Python with stability-sdk==0.8.6)")
    return str(path)


def run_reference(*args: str, stdin: str = "") -> list[dict]:
    """Run sdk_reference.py with ``args``; its stdout is one JSON object per line."""
    result = subprocess.run([sdk_python(), str(SCRIPT), *args], input=stdin, capture_output=True,
                            text=True, timeout=300, check=False)
    if result.returncode != 0:
        pytest.fail(f"sdk_reference.py {' '.join(args)} failed:\n{result.stderr}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
