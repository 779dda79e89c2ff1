"""``sfumato generate`` shows the job's events: queue position, steps with ETA, each image as it is written."""

from __future__ import annotations

import subprocess
import sys
import threading

import httpx
from conftest import KEY_A

from sfumato.testing import RequestBuilder


def test_generate_prints_queue_position_steps_and_each_image(events_server, tmp_path):
    # A job ahead of ours keeps it queued for a while (the engine runs one batch at a time).
    blocker = RequestBuilder().prompt("ahead").size(16, 16).steps(10).extension("step_delay_ms", 100).build()
    ahead = threading.Thread(target=lambda: httpx.post(
        f"{events_server.url}/grpcgateway/generate", json=blocker, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=60))
    ahead.start()
    output = tmp_path / "fox.png"
    result = subprocess.run(
        [sys.executable, "-m", "sfumato", "generate", "a fox", "-o", str(output), "--server", events_server.url,
         "--api-key", KEY_A, "--samples", "2", "--seed", "3", "--steps", "6", "--width", "32", "--height", "32",
         "--param", "step_delay_ms=50"],
        capture_output=True, text=True, timeout=120,
    )
    ahead.join(60)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith("queued: position ") for line in lines), lines
    steps = [line for line in lines if line.startswith("step ")]
    assert "step 6/6 eta 0.0s" in steps, lines
    wrote = [line for line in lines if line.startswith("wrote ")]
    assert [line.split(" (")[0] for line in wrote] == [f"wrote {tmp_path / 'fox-0.png'}", f"wrote {tmp_path / 'fox-1.png'}"]
    assert "(seed 3)" in wrote[0] and "(seed 4)" in wrote[1]
    assert lines.index(wrote[0]) < lines.index(wrote[1]) and "2/2 images" in lines[-1]
    assert (tmp_path / "fox-0.png").exists() and (tmp_path / "fox-1.png").exists()
