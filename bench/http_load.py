"""Closed-loop HTTP load against a running sfumato server (loopback only, bounded).

Used by the benchmarks and the load test; keeps per-request latencies and outcomes.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def run_load(
    url: str,
    call: Callable[[httpx.Client], str],
    *,
    concurrency: int,
    requests: int | None = None,
    seconds: float | None = None,
) -> LoadResult:
    """``call(client)`` makes one request and returns an outcome label ("ok", "429", …)."""
    result = LoadResult()
    lock = threading.Lock()
    remaining = [requests if requests is not None else 1 << 62]
    stop_at = time.monotonic() + seconds if seconds is not None else float("inf")

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=120.0) as client:
            while True:
                with lock:
                    if remaining[0] <= 0 or time.monotonic() >= stop_at:
                        return
                    remaining[0] -= 1
                began = time.perf_counter()
                outcome = call(client)
                elapsed = time.perf_counter() - began
                with lock:
                    result.latencies.append(elapsed)
                    result.outcomes[outcome] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall = time.perf_counter() - began
    return result
