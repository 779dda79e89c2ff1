"""A short distributed run of the load test script, so it keeps working (the full run: bench/load_test.py --queue)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "load_test.py"


def test_distributed_load_script_short_run():
    result = subprocess.run([sys.executable, str(SCRIPT), "--queue", "--seconds", "10"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "load test passed" in result.stdout
    assert "duplicates 0" in result.stdout
