"""server.keep_freed_memory_mib: glibc keeps freed buffers for the next request instead of faulting them in again."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from sfumato.allocator import keep_freed_memory, user_tuned_malloc
from sfumato.config import ConfigError, load_settings
from sfumato.testing import RequestBuilder, start_server

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc malloc settings"
)

# Allocates and drops the temporaries of a 512² float64 image pipeline, like an engine's request.
FAULTS_PER_ROUND = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from sfumato.allocator import keep_freed_memory
    applied = keep_freed_memory(int(sys.argv[1]))
    def work():
        planes = [np.full((512, 512), k, dtype=np.float64) for k in range(3)]
        image = np.stack(planes, axis=-1) * 0.5 + 0.25
        return int((np.clip(image, 0, 1) * 255).astype(np.uint8).sum())
    work()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        work()
    print(applied is not None, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
    """
)


def faults_per_round(mib: int, env: dict[str, str] | None = None) -> tuple[bool, float]:
    result = subprocess.run([sys.executable, "-c", FAULTS_PER_ROUND, str(mib)], capture_output=True, text=True,
                            env=env, check=True)
    applied, faults = result.stdout.split()
    return applied == "True", float(faults)


def test_kept_memory_is_reused_instead_of_faulted_in_again() -> None:
    applied, kept = faults_per_round(256)
    not_applied, default = faults_per_round(0)
    assert applied and not not_applied
    # 512² float64 planes are 2 MiB each: glibc's defaults map and unmap them on every round.
    assert default > 500, default
    assert kept * 20 < default, (kept, default)


def test_the_user_s_own_malloc_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    applied, faults = faults_per_round(256, env={**os.environ, "MALLOC_TRIM_THRESHOLD_": "131072"})
    assert not applied and faults > 500
    assert user_tuned_malloc({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"})
    assert not user_tuned_malloc({"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=512"})
    assert keep_freed_memory(0) is None


@pytest.mark.parametrize("value", ["-1", "2048"])
def test_out_of_range_values_are_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "sfumato.toml"
    path.write_text(f"[server]\nkeep_freed_memory_mib = {value}\n")
    with pytest.raises(ConfigError, match="server.keep_freed_memory_mib must be 0..2047"):
        load_settings(path)


CONFIG = """
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0
[server]
keep_freed_memory_mib = {mib}
[[engines]]
id = "test-pattern"
kind = "test-pattern"
"""


def server_faults_per_request(tmp_path: Path, mib: int) -> float:
    server = start_server(tmp_path, config=CONFIG.format(mib=mib), plugins=["test_pattern"])
    try:
        body = RequestBuilder().prompt("faults").size(512, 512).seeds(1).steps(1).build()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            client.post("/grpcgateway/generate", json=body).raise_for_status()
            before = minor_faults(server.process.pid)
            for _ in range(6):
                client.post("/grpcgateway/generate", json=body).raise_for_status()
            return (minor_faults(server.process.pid) - before) / 6
    finally:
        server.stop()


def minor_faults(pid: int) -> int:
    # /proc/PID/stat: the 10th field is minflt; the command name (2nd) is in parentheses.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[7])


def test_sfumato_serve_applies_the_setting(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    (tmp_path / "default").mkdir()
    kept = server_faults_per_request(tmp_path / "kept", 256)
    default = server_faults_per_request(tmp_path / "default", 0)
    assert kept * 5 < default, (kept, default)
