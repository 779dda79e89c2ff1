"""Generate on test-pattern at 512x512: native gRPC vs the proto3-JSON route (/grpcgateway), the named peer.

    python bench/bench_grpc.py [--rounds 3] [--requests 40]

One server, both dialects, closed-loop clients in threads (httpx for JSON, grpcio's
synchronous stub for gRPC) at concurrency 1 and 16. Rounds alternate the dialects;
p50 and p99 are the medians over rounds. Target (issue #14): gRPC p50 <= JSON p50.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from google.protobuf import json_format  # noqa: E402

from bench.http_load import LoadResult, run_load  # noqa: E402
from sfumato.proto import generation_pb2, generation_pb2_grpc  # noqa: E402
from sfumato.testing import start_server  # noqa: E402
from tests.grpc_api.conftest import BINARY_CONFIG  # noqa: E402

REQUEST = generation_pb2.Request(engine_id="test-pattern", prompt=[generation_pb2.Prompt(text="benchmark")])
REQUEST.image.width = REQUEST.image.height = 512
REQUEST.image.seed.append(1)
REQUEST.image.steps = 1
BODY = json_format.MessageToDict(REQUEST)


def json_call(client: httpx.Client) -> str:
    response = client.post("/grpcgateway/generate", json=BODY)
    return "ok" if response.status_code == 200 and b'"result"' in response.content else str(response.status_code)


def grpc_load(stub: generation_pb2_grpc.GenerationServiceStub, *, concurrency: int, requests: int) -> LoadResult:
    result = LoadResult()
    lock = threading.Lock()
    remaining = [requests]

    def worker() -> None:
        while True:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            began = time.perf_counter()
            try:
                answers = list(stub.Generate(REQUEST, timeout=120))
                outcome = "ok" if answers and answers[0].artifacts[0].binary else "empty"
            except grpc.RpcError as error:
                outcome = error.code().name
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=40, help="requests per round and concurrency level (x4 at 16)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), config=BINARY_CONFIG, plugins=["test_pattern"], test_controls=False)
        try:
            with grpc.insecure_channel(server.grpc_target) as channel:
                stub = generation_pb2_grpc.GenerationServiceStub(channel)
                runners: dict[str, Callable[[int, int], LoadResult]] = {
                    "json": lambda c, n: run_load(server.url, json_call, concurrency=c, requests=n),
                    "grpc": lambda c, n: grpc_load(stub, concurrency=c, requests=n),
                }
                for runner in runners.values():  # warm up both paths
                    runner(2, 10)
                print(f"Generate, test-pattern 512x512, 1 step; medians over {args.rounds} rounds")
                for concurrency in (1, 16):
                    count = args.requests * (4 if concurrency > 1 else 1)
                    rounds: dict[str, list[LoadResult]] = {name: [] for name in runners}
                    for index in range(args.rounds):
                        order = list(runners) if index % 2 == 0 else list(reversed(runners))
                        for name in order:
                            rounds[name].append(runners[name](concurrency, count))
                    summary = {}
                    for name, results in rounds.items():
                        failures = sum(sum(v for k, v in r.outcomes.items() if k != "ok") for r in results)
                        summary[name] = (statistics.median(r.p50 for r in results),
                                         statistics.median(r.p99 for r in results),
                                         statistics.median(r.rate for r in results), failures)
                    json_p50 = summary["json"][0]
                    for name, (p50, p99, rate, failures) in summary.items():
                        print(f"  concurrency {concurrency:2d}  {name:4s}  p50 {p50 * 1e3:7.2f} ms  p99 {p99 * 1e3:7.2f} ms"
                              f"  {rate:6.1f} req/s  p50 {p50 / json_p50:5.2f}x JSON  failures {failures}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
