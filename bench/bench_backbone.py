"""The job backbone: the cost of the hop, scaling with workers, and what each job costs the backbone.

1. Generate on test-pattern at 64² and 512², one request at a time: an API replica and
   a worker on one Valkey vs the embedded server with the same engine config, in the
   same run, in alternating blocks so both see the same machine noise. Target (issue:
   backbone): p50 ≤ 1.15× embedded at 512².
2. Throughput with 1, 4 and 8 workers on an engine that mostly waits (10 steps × 50 ms,
   one job at a time per worker), 3 clients per worker. Targets: 4 workers ≥ 3.6×,
   8 workers ≥ 7× one worker.
3. Valkey's own counters around N Generate and N AsyncGenerate jobs: commands and bytes
   per job, to size a backbone on paper.

    python bench/bench_backbone.py [--quick] [--only hop|scaling|operations] [--appendfsync always|everysec|no]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.backbone_cluster import backbone_cluster, command_stats, net_bytes  # noqa: E402
from bench.http_load import LoadResult  # noqa: E402
from sfumato.testing import RequestBuilder, parse_stream, start_server  # noqa: E402

NO_QUOTAS = """
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0
"""

ENGINE = """
[[engines]]
id = "test-pattern"
kind = "test-pattern"
max_batch_size = 4
"""

# Production defaults for heartbeats and leases: their background traffic is part of the cost.
REPLICA_CONFIG = NO_QUOTAS + """
[jobs]
queue_size = 1024
"""
EMBEDDED_CONFIG = NO_QUOTAS + """
[jobs]
queue_size = 1024
""" + ENGINE
WORKER_CONFIG = ENGINE

# One job at a time per worker, no waiting for a batch to fill.
SCALING_WORKER_CONFIG = """
[jobs]
batch_window_ms = 0

[[engines]]
id = "test-pattern"
kind = "test-pattern"
max_batch_size = 1
"""
STEPS, STEP_DELAY_MS = 10, 50


def body(size: int, seed: int = 1) -> dict:
    return RequestBuilder().engine("test-pattern").prompt("benchmark").size(size, size).seeds(seed).steps(1).build()


def generate_once(client: httpx.Client, request: dict) -> float:
    began = time.perf_counter()
    response = client.post("/grpcgateway/generate", json=request)
    elapsed = time.perf_counter() - began
    if response.status_code != 200 or not response.content.startswith(b'{"result"'):
        raise RuntimeError(f"Generate failed: {response.status_code} {response.text[:300]}")
    return elapsed


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


# ---------------------------------------------------------------- 1. the hop
def hop_cost(quick: bool, appendfsync: str) -> None:
    plan = [(64, 60 if quick else 200), (512, 20 if quick else 60)]
    block = 10
    print(f"\n1. Cost of the hop: Generate on test-pattern, one request at a time, Valkey appendfsync={appendfsync}")
    print("   distributed = 1 API replica + 1 worker on one Valkey; embedded = sfumato serve alone (same engine config)")
    with backbone_cluster(appendfsync) as cluster:
        cluster.worker(config=WORKER_CONFIG)
        replica = cluster.replica(config=REPLICA_CONFIG)
        cluster.wait_ready(replica)
        embedded = start_server(cluster.tmp, config=EMBEDDED_CONFIG, plugins=["test_pattern"])
        cluster.replicas.append(embedded)  # stopped with the rest
        with httpx.Client(base_url=replica.url, timeout=60) as dist, httpx.Client(base_url=embedded.url, timeout=60) as emb:
            peers = {"embedded": emb, "distributed": dist}
            print(f"   {'case':<24}{'n':>5}{'p50 ms':>10}{'p99 ms':>10}")
            ratios = []
            for size, count in plan:
                request = body(size)
                for client in peers.values():  # warm-up
                    for _ in range(10):
                        generate_once(client, request)
                latencies: dict[str, list[float]] = {name: [] for name in peers}
                order = list(peers)
                for _ in range(count // block):
                    for name in order:  # blocks alternate, and so does who goes first
                        latencies[name] += [generate_once(peers[name], request) for _ in range(block)]
                    order.reverse()
                results = {name: LoadResult(latencies=values) for name, values in latencies.items()}
                for name, result in results.items():
                    print(f"   {f'{name} {size}²':<24}{len(result.latencies):>5}{ms(result.p50):>10}{ms(result.p99):>10}")
                p50 = results["distributed"].p50 / results["embedded"].p50
                p99 = results["distributed"].p99 / results["embedded"].p99
                extra = results["distributed"].p50 - results["embedded"].p50
                ratios.append((size, p50, p99, extra))
            for size, p50, p99, extra in ratios:
                target = "  (target ≤ 1.15×)" if size == 512 else ""
                print(f"   {size}²: distributed/embedded p50 {p50:.2f}×, p99 {p99:.2f}×; "
                      f"the hop adds {extra * 1000:.2f} ms at p50{target}")


# ---------------------------------------------------------------- 2. scaling
def throughput(url: str, clients: int, warm: float, measure: float) -> tuple[float, float, Counter[str]]:
    """Jobs finished per second inside the measuring window, p50 latency, outcomes."""
    request = RequestBuilder().engine("test-pattern").prompt("scaling").size(64, 64).seeds(1).steps(STEPS)
    request = request.extension("step_delay_ms", STEP_DELAY_MS).build()
    began = time.monotonic()
    window = (began + warm, began + warm + measure)
    done: list[tuple[float, float]] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def client_loop() -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            while time.monotonic() < window[1]:
                start = time.monotonic()
                response = client.post("/grpcgateway/generate", json=request)
                ok = response.status_code == 200 and response.content.startswith(b'{"result"')
                with lock:
                    outcomes["ok" if ok else str(response.status_code)] += 1
                    if ok:
                        done.append((time.monotonic(), time.monotonic() - start))

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    inside = [latency for finished, latency in done if window[0] <= finished < window[1]]
    return len(inside) / measure, statistics.median(inside) if inside else float("nan"), outcomes


def scaling(quick: bool, appendfsync: str) -> None:
    warm, measure = (2.0, 5.0) if quick else (3.0, 15.0)
    per_worker = 1000 / (STEPS * STEP_DELAY_MS)
    print(f"\n2. Scaling: Generate 64², {STEPS} steps × {STEP_DELAY_MS} ms (one worker can do {per_worker:.1f} jobs/s), "
          f"max_batch_size 1, 3 clients per worker, {measure:.0f} s measured after {warm:.0f} s")
    print(f"   {'workers':<10}{'clients':>8}{'jobs/s':>9}{'p50 ms':>9}{'vs 1':>8}{'of ideal':>10}{'target':>9}")
    targets = {4: 3.6, 8: 7.0}
    with backbone_cluster(appendfsync) as cluster:
        replica = cluster.replica(config=REPLICA_CONFIG)
        base = None
        for count in (1, 4, 8):
            while len(cluster.workers) < count:
                cluster.worker(config=SCALING_WORKER_CONFIG)
            cluster.wait_ready(replica, workers=count)
            rate, p50, outcomes = throughput(replica.url, 3 * count, warm, measure)
            if set(outcomes) != {"ok"}:
                print(f"   unexpected outcomes: {dict(outcomes)}")
            base = base or rate
            target = f"≥ {targets[count]}×" if count in targets else ""
            print(f"   {count:<10}{3 * count:>8}{rate:>9.2f}{ms(p50):>9}{rate / base:>7.2f}×"
                  f"{rate / (count * per_worker):>9.0%}{target:>10}")


# ---------------------------------------------------------------- 3. operations and bytes per job
def lua_commands(cluster, run) -> Counter[str]:  # type: ignore[no-untyped-def]
    """Commands the server ran inside scripts during ``run()`` (MONITOR marks them "lua")."""
    seen: Counter[str] = Counter()
    started = threading.Event()

    def watch() -> None:
        with cluster.valkey.client().monitor() as monitor:
            started.set()
            for command in monitor.listen():
                words = command["command"].split(" ", 2)
                if words[0] == "ECHO" and words[1:2] == ["bench-monitor-stop"]:
                    return
                if command["client_type"] == "lua":
                    name = words[0].lower()
                    if name in ("xgroup", "client", "config", "script") and len(words) > 1:
                        name += "|" + words[1].lower()
                    seen[name] += 1

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    started.wait(10)
    time.sleep(0.2)  # MONITOR is registered once its first reply arrived
    run()
    cluster.valkey.client().echo("bench-monitor-stop")
    thread.join(30)
    return seen


def png_kib(client: httpx.Client, request: dict) -> float:
    answers, _ = parse_stream(client.post("/grpcgateway/generate", json=request).content)
    return len(base64.b64decode(answers[0]["artifacts"][0]["binary"])) / 1024


def run_generate(client: httpx.Client, request: dict, count: int) -> int:
    for _ in range(count):
        generate_once(client, request)
    return 0


def run_async(client: httpx.Client, request: dict, count: int) -> int:
    """Returns the number of AsyncResult calls."""
    polls = 0
    for _ in range(count):
        response = client.post("/grpcgateway/asyncGenerate", json=request)
        if response.status_code != 200:
            raise RuntimeError(f"AsyncGenerate failed: {response.status_code} {response.text[:300]}")
        handle, answers = response.json(), 0
        while True:
            polls += 1
            result = client.post("/grpcgateway/asyncResult", json=handle).json()
            answers += len(result.get("answer", []))
            if result.get("complete"):
                break
        if answers != 1:
            raise RuntimeError(f"async job delivered {answers} answers")
    return polls


def operations(quick: bool, appendfsync: str) -> None:
    count = {64: 50 if quick else 200, 512: 20 if quick else 60}
    idle_seconds = 3.0 if quick else 10.0
    print(f"\n3. Backbone operations and bytes per job (1 replica + 1 worker, production heartbeats; "
          f"Valkey appendfsync={appendfsync})")
    with backbone_cluster(appendfsync) as cluster:
        valkey = cluster.valkey.client()
        valkey.config_set("auto-aof-rewrite-percentage", "0")  # a rewrite would shrink the AOF mid-measurement
        cluster.worker(config=WORKER_CONFIG)
        replica = cluster.replica(config=REPLICA_CONFIG)
        cluster.wait_ready(replica)
        client = httpx.Client(base_url=replica.url, timeout=60)
        for size in count:
            run_generate(client, body(size), 5)
            run_async(client, body(size), 5)

        def measure(run) -> tuple[Counter[str], float, float, float, float, float, int]:  # type: ignore[no-untyped-def]
            valkey.config_resetstat()
            net0 = net_bytes(valkey)
            aof0 = int(valkey.info("persistence")["aof_current_size"])
            memory0 = int(valkey.info("memory")["used_memory"])
            began = time.monotonic()
            returned = run()
            seconds = time.monotonic() - began
            calls = Counter(command_stats(valkey))
            net1 = net_bytes(valkey)
            aof1 = int(valkey.info("persistence")["aof_current_size"])
            memory1 = int(valkey.info("memory")["used_memory"])
            for name in ("config|resetstat", "info"):  # this script's own probes
                calls.pop(name, None)
            return calls, seconds, net1[0] - net0[0], net1[1] - net0[1], aof1 - aof0, memory1 - memory0, returned

        # The background: heartbeats, registry refreshes, idle blocking reads, lease upkeep.
        idle, idle_time, idle_in, idle_out, _, _, _ = measure(lambda: time.sleep(idle_seconds))
        background = {name: calls / idle_time for name, calls in idle.items()}
        print(f"   idle background: {sum(idle.values()) / idle_time:.1f} commands/s, "
              f"{idle_in / idle_time / 1024:.2f} KiB/s in, {idle_out / idle_time / 1024:.2f} KiB/s out "
              f"({', '.join(f'{n} {r:.1f}' for n, r in sorted(background.items(), key=lambda i: -i[1]))} per s)")

        cases = []
        for size, n in count.items():
            for kind, run in (("Generate", run_generate), ("AsyncGenerate", run_async)):
                request = body(size, seed=size)
                calls, seconds, bytes_in, bytes_out, aof, memory, polls = measure(
                    lambda run=run, request=request, n=n: run(client, request, n))
                per_job = {name: max(0.0, (value - background.get(name, 0.0) * seconds) / n) for name, value in calls.items()}
                bytes_in -= idle_in / idle_time * seconds
                bytes_out -= idle_out / idle_time * seconds
                cases.append((f"{kind} {size}²", n, per_job, bytes_in / n, bytes_out / n, aof / n, memory / n,
                              polls / n, png_kib(client, request)))

        # Which of those commands ran inside the Lua scripts (one round trip each EVALSHA): a short monitored batch.
        lua = {
            "Generate": lua_commands(cluster, lambda: run_generate(client, body(64, seed=7), 20)),
            "AsyncGenerate": lua_commands(cluster, lambda: run_async(client, body(64, seed=7), 20)),
        }
        client.close()

    print(f"   {'case':<20}{'jobs':>5}{'commands':>10}{'round trips':>13}{'PNG KiB':>9}{'KiB in':>9}{'KiB out':>9}"
          f"{'AOF KiB':>9}{'mem KiB':>9}{'polls':>7}")
    for name, n, per_job, bytes_in, bytes_out, aof, memory, polls, png in cases:
        inside = sum(lua[name.split()[0]].values()) / 20
        total = sum(per_job.values())
        print(f"   {name:<20}{n:>5}{total:>10.1f}{total - inside:>13.1f}{png:>9.1f}{bytes_in / 1024:>9.1f}{bytes_out / 1024:>9.1f}"
              f"{aof / 1024:>9.1f}{memory / 1024:>9.1f}{polls if polls else float('nan'):>7.2f}")
    print("   per job, idle background subtracted; commands include those run inside scripts; round trips = commands")
    print("   sent by replicas and workers; PNG = one answer's image; in/out = bytes Valkey received/sent;")
    print("   mem = Valkey used_memory held per job until its retention (jobs.async_retention_seconds) expires;")
    print("   polls = AsyncResult calls per async job (long polls of async_poll_wait_seconds)")
    names = sorted({name for case in cases for name, v in case[2].items() if v >= 0.2},
                   key=lambda n: (-cases[0][2].get(n, 0.0), n))
    print(f"\n   {'command per job':<20}" + "".join(f"{case[0]:>20}" for case in cases) + f"{'in scripts (G/A)':>18}")
    for name in names:
        inside = f"{lua['Generate'][name] / 20:.1f}/{lua['AsyncGenerate'][name] / 20:.1f}"
        print(f"   {name:<20}" + "".join(f"{case[2].get(name, 0.0):>20.2f}" for case in cases) + f"{inside:>18}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests and shorter windows")
    parser.add_argument("--appendfsync", default="everysec", choices=["always", "everysec", "no"],
                        help="Valkey's AOF fsync policy (default: Valkey's own default)")
    parser.add_argument("--only", choices=["hop", "scaling", "operations"], help="run one part")
    args = parser.parse_args()
    parts = {"hop": hop_cost, "scaling": scaling, "operations": operations}
    for name, part in parts.items():
        if args.only in (None, name):
            part(args.quick, args.appendfsync)


if __name__ == "__main__":
    main()
