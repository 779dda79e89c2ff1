"""A fresh ``sfumato serve`` of the embedded default logs sfumato's lines only, not library noise."""

from __future__ import annotations

import re

from sfumato.testing import start_server

# Every line of the default log is a log record or the one "serving on" line.
RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


def test_a_cold_start_of_tiny_sd_logs_no_library_noise(tmp_path):
    # The embedded default with an empty cache: tiny-sd is built, saved and loaded.
    server = start_server(tmp_path, env={"SFUMATO_LOG_LEVEL": "info"}, timeout=60)
    try:
        (answer,) = server.generate({"engineId": "tiny-sd", "prompt": [{"text": "a fox"}],
                                     "image": {"seed": [1], "steps": "2"}})
        assert answer["artifacts"][0]["seed"] == 1
    finally:
        server.stop()
    log = server.log()
    assert "engine tiny-sd ready in" in log
    for noise in ("it/s", "%|", "FutureWarning", "torch_dtype", "[transformers]", "torchvision"):
        assert noise not in log, log
    lines = [line for line in log.splitlines() if line.strip()]
    strays = [line for line in lines if not RECORD.match(line) and not line.startswith("sfumato serving on ")]
    assert not strays, log
