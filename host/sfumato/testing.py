"""pytest fixtures for sfumato and its plugin authors (registered as the ``sfumato`` pytest plugin).

    def test_my_engine(sfumato_server_factory, request_builder):
        server = sfumato_server_factory(config=MY_TOML, plugins=["my_plugin"])
        answers = server.generate(request_builder().engine("mine").prompt("a cat").build())
        assert answers[0]["artifacts"][0]["mime"] == "image/png"

The server is a real ``sfumato serve`` process on a free loopback port, loading
only the named entry points (plus the built-in adjustments) in strict mode.

To test an engine without a server (jobs built and validated like the server's, a
recorded ``generate``, the :class:`EngineConformance` suite), see
:mod:`sfumato.engine_testing`; its names are importable from here too.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

BUILTIN_PLUGINS = ("adjustments",)


def missing_component(reason: str) -> None:
    """A test needs something this machine lacks: skip on a developer's machine, fail in CI
    (``CI`` set), where the README's setup installs everything and a skip would hide a gap."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}: it must be present in CI", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_stream(body: bytes) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Split a Generate NDJSON body into its answers and the final error (if any)."""
    answers: list[dict[str, Any]] = []
    error = None
    for line in body.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        if "result" in item:
            answers.append(item["result"])
        elif "error" in item:
            error = item["error"]
        else:
            raise AssertionError(f"stream line is neither result nor error: {line[:200]!r}")
    return answers, error


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    api_key: str | None = None
    # host:port of the native gRPC server (when [grpc] is enabled).
    grpc_target: str = ""

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 60.0), **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        with self.client() as client:
            if isinstance(body, (bytes, str)):
                return client.post(path, content=body, headers={"Content-Type": "application/json"}, **kwargs)
            return client.post(path, json=body, **kwargs)

    def generate(self, body: Any) -> list[dict[str, Any]]:
        """Run Generate and return the answers; fail the test on any error."""
        response = self.post("/grpcgateway/generate", body)
        assert response.status_code == 200, f"Generate failed: {response.status_code} {response.text[:500]}"
        answers, error = parse_stream(response.content)
        assert error is None, f"stream ended with an error: {error}"
        return answers

    def engines_settled(self, timeout: float = 120.0) -> dict[str, dict[str, Any]]:
        """Wait until every engine is ready or has failed to load; returns ``/plugins``'s
        engine reports by id (a server started with ``wait_ready=False`` serves meanwhile)."""
        deadline = time.monotonic() + timeout
        while True:
            report = {engine["id"]: engine for engine in httpx.get(self.url + "/plugins").json()["engines"]}
            if all(engine["ready"] or engine["error"] for engine in report.values()) or time.monotonic() > deadline:
                return report
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20.0) -> int:
        return stop_process(self.process, timeout)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; the exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def start_server(
    tmp_dir: Path,
    *,
    config: str | None = None,
    plugins: list[str] | None = None,
    env: dict[str, str] | None = None,
    api_key: str | None = None,
    wait_ready: bool = True,
    timeout: float = 120.0,
    test_controls: bool = True,
    queue: str | None = None,
) -> RunningServer:
    """Start ``sfumato serve`` on a free loopback port and wait for it.

    ``test_controls`` enables the test-only extension parameters (delays, fault
    injection) that a production server refuses.
    """
    # A port found free can be taken (an outgoing connection's ephemeral port) before the server
    # binds it; the server then says so and exits with 2: try again on new ports.
    attempts_left = PORT_ATTEMPTS
    while True:
        server = _launch(tmp_dir, config, plugins, env, api_key, test_controls, queue)
        try:
            return _wait_until_up(server, "/readyz" if wait_ready else "/healthz", timeout)
        except _PortTaken:
            attempts_left -= 1
            if not attempts_left:
                raise RuntimeError(f"sfumato serve found its ports taken {PORT_ATTEMPTS} times:\n{server.log()}") from None


PORT_ATTEMPTS = 3


class _PortTaken(Exception):
    pass


def _launch(tmp_dir: Path, config: str | None, plugins: list[str] | None, env: dict[str, str] | None,
            api_key: str | None, test_controls: bool, queue: str | None) -> RunningServer:
    port = free_port()
    command = [sys.executable, "-m", "sfumato", "serve", "--strict", "--host", "127.0.0.1", "--port", str(port)]
    if queue is not None:  # an API replica: engines run in workers on that backbone
        command += ["--queue", queue]
    if config is not None:
        config_path = tmp_dir / f"sfumato-{port}.toml"
        config_path.write_text(config)
        command += ["--config", str(config_path)]
    if plugins is not None:
        command += ["--only-plugins", ",".join(dict.fromkeys([*plugins, *BUILTIN_PLUGINS]))]
    environment = dict(os.environ, **(env or {}))
    environment.setdefault("SFUMATO_CACHE_DIR", str(tmp_dir / "cache"))
    # Servers started side by side must not all claim the default gRPC port.
    environment.setdefault("SFUMATO_GRPC_PORT", str(free_port()))
    if test_controls:
        environment.setdefault("SFUMATO_TEST_CONTROLS", "1")
    if api_key:
        environment["SFUMATO_API_KEYS"] = api_key
    log_path = tmp_dir / f"server-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=environment)
    return RunningServer(f"http://127.0.0.1:{port}", process, log_path, api_key,
                         grpc_target=f"127.0.0.1:{environment['SFUMATO_GRPC_PORT']}")


def _wait_until_up(server: RunningServer, probe: str, timeout: float) -> RunningServer:
    process = server.process
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            if process.returncode == 2 and "cannot listen" in server.log():
                raise _PortTaken
            raise RuntimeError(f"sfumato serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url + probe, timeout=2.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"sfumato serve did not become ready in {timeout}s:\n{server.log()}")
        time.sleep(0.05)


@dataclass
class RequestBuilder:
    """Builds Request JSON (proto3 JSON, camelCase) for tests."""

    body: dict[str, Any] = field(default_factory=lambda: {"prompt": [], "image": {}})

    def engine(self, engine_id: str) -> RequestBuilder:
        self.body["engineId"] = engine_id
        return self

    def request_id(self, request_id: str) -> RequestBuilder:
        self.body["requestId"] = request_id
        return self

    def prompt(self, text: str, weight: float | None = None) -> RequestBuilder:
        prompt: dict[str, Any] = {"text": text}
        if weight is not None:
            prompt["parameters"] = {"weight": weight}
        self.body["prompt"].append(prompt)
        return self

    def artifact(self, kind: str, png: bytes, *, adjustments: list[Any] | None = None,
                 post_adjustments: list[Any] | None = None, weight: float | None = None) -> RequestBuilder:
        artifact: dict[str, Any] = {"type": kind, "binary": base64.b64encode(png).decode()}
        if adjustments:
            artifact["adjustments"] = adjustments
        if post_adjustments:
            artifact["postAdjustments"] = post_adjustments
        prompt: dict[str, Any] = {"artifact": artifact}
        if weight is not None:
            prompt["parameters"] = {"weight": weight}
        self.body["prompt"].append(prompt)
        return self

    def init_image(self, png: bytes, **kwargs: Any) -> RequestBuilder:
        return self.artifact("ARTIFACT_IMAGE", png, **kwargs)

    def mask(self, png: bytes, **kwargs: Any) -> RequestBuilder:
        return self.artifact("ARTIFACT_MASK", png, **kwargs)

    def lora(self, safetensors: bytes, weight: float = 1.0) -> RequestBuilder:
        return self.artifact("ARTIFACT_LORA", safetensors, weight=weight)

    def size(self, width: int, height: int) -> RequestBuilder:
        self.body["image"].update(width=str(width), height=str(height))
        return self

    def seeds(self, *seeds: int) -> RequestBuilder:
        self.body["image"]["seed"] = list(seeds)
        return self

    def samples(self, count: int) -> RequestBuilder:
        self.body["image"]["samples"] = str(count)
        return self

    def steps(self, count: int) -> RequestBuilder:
        self.body["image"]["steps"] = str(count)
        return self

    def sampler(self, name: str) -> RequestBuilder:
        self.body["image"]["transform"] = {"diffusion": name}
        return self

    def _step_parameter(self) -> dict[str, Any]:
        parameters = self.body["image"].setdefault("parameters", [{}])
        return parameters[0]

    def cfg_scale(self, value: float) -> RequestBuilder:
        self._step_parameter().setdefault("sampler", {})["cfgScale"] = value
        return self

    def strength(self, start: float) -> RequestBuilder:
        self._step_parameter()["schedule"] = {"start": start}
        return self

    def tiling(self, enabled: bool = True) -> RequestBuilder:
        self.body["image"]["tiling"] = enabled
        return self

    def extension(self, name: str, value: float | int | str) -> RequestBuilder:
        kind = "str" if isinstance(value, str) else "int" if isinstance(value, int) else "float"
        encoded: Any = str(value) if kind == "int" else value
        extension = self.body["image"].setdefault("extension", {"parameters": []})
        extension["parameters"].append({"name": name, kind: encoded})
        return self

    def build(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.body))


@pytest.fixture
def request_builder() -> type[RequestBuilder]:
    """``request_builder()`` starts a new Request body."""
    return RequestBuilder


@pytest.fixture
def sfumato_server_factory(tmp_path: Path) -> Iterator[Any]:
    """``factory(config=TOML, plugins=[entry point names], env={...}, api_key=..., test_controls=True)`` → RunningServer."""
    servers: list[RunningServer] = []

    def factory(**kwargs: Any) -> RunningServer:
        server = start_server(tmp_path, **kwargs)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


def decode_png_artifact(answer: dict[str, Any]) -> bytes:
    return base64.b64decode(answer["artifacts"][0]["binary"])



# The engine harness (no server): jobs, recorded runs and the conformance suite, imported on
# first use so that loading this pytest plugin stays cheap for every test run.
pytest.register_assert_rewrite("sfumato.engine_testing")
ENGINE_TESTING_NAMES = (
    "DEFAULT_PROMPT", "SAMPLER_FLAGS", "EngineConformance", "EngineRun", "EngineUnderTest", "RecordingCancel",
    "load_engine", "make_job", "request_body", "run_engine", "tasks_of",
)


def __getattr__(name: str) -> Any:
    if name in ENGINE_TESTING_NAMES:
        from sfumato import engine_testing

        return getattr(engine_testing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
