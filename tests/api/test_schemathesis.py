"""Property-based requests generated from ``/schema``: the server never answers 5xx."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_no_server_errors_for_schema_generated_requests(server, tmp_path):
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis (st) is part of the test extras"
    # 501 is the contract's UNIMPLEMENTED (token prompts, other requestedTypes…), not a crash.
    config = tmp_path / "schemathesis.toml"
    config.write_text('[checks.not_a_server_error]\nexpected-statuses = ["2XX", "3XX", "4XX", "501"]\n')
    result = subprocess.run(
        [st, "--config-file", str(config), "run", server.url + "/schema/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "25", "--seed", "1", "--generation-deterministic", "--request-timeout", "30",
         "--phases", "examples,coverage,fuzzing"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    summary = result.stdout[-4000:]
    assert result.returncode == 0, summary + result.stderr[-2000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert generated and int(generated.group(1)) > 500 and generated.group(1) == generated.group(2), summary
