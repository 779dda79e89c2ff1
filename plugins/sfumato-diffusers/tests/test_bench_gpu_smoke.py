"""bench/bench_gpu.py --smoke runs end to end on CPU (tiny model, tiny sizes) and reports every row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench" / "bench_gpu.py"


@pytest.mark.slow
def test_the_smoke_mode_runs_and_reports_each_row(tmp_path):
    out = tmp_path / "bench.json"
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join([str(BENCH.parents[1] / "src"), environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, str(BENCH), "--smoke", "--json", str(out)], env=environ,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(out.read_text())
    rows = {(row["row"], row["batch"]) for row in summary["rows"]}
    assert rows == {(name, batch) for name in ("bare", "engine", "fast") for batch in (1, 2)}
    assert all(row["it_per_s"] > 0 and row["images_per_s"] > 0 for row in summary["rows"])
    assert summary["s_per_50_steps_batch1"] > 0
    assert "× bare" in done.stdout and "TensorRT" in done.stdout
