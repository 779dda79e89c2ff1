"""``sfumato serve | worker | workers | engines | plugins | generate`` (also ``python -m sfumato``)."""

from __future__ import annotations

import argparse
import base64
import logging
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sfumato.config import Settings

DEFAULT_SERVER = "http://127.0.0.1:5000"


def _server_default() -> str:
    return os.environ.get("SFUMATO_SERVER", DEFAULT_SERVER)


def _load(args: argparse.Namespace, *, every_sampler: bool = False, check_samplers: bool = True):  # type: ignore[no-untyped-def]
    from sfumato.config import load_settings

    settings = load_settings(args.config)
    return settings, _load_plugins(args, settings, every_sampler=every_sampler, check_samplers=check_samplers)


def _load_plugins(  # type: ignore[no-untyped-def]
    args: argparse.Namespace, settings: Any, *, every_sampler: bool = False, check_samplers: bool = True
):
    from sfumato.plugins import load_plugins

    only = args.only_plugins.split(",") if getattr(args, "only_plugins", None) else None
    # Checking a sampler imports its factory (torch for diffusers): a server checks the kinds it runs.
    kinds = None if every_sampler else {entry.kind for entry in settings.engines if entry.enabled}
    if not check_samplers:
        kinds = set()
    return load_plugins(strict=args.strict, only=only, sampler_kinds=kinds)


def _keep_freed_memory(settings: Settings) -> None:
    from sfumato.allocator import keep_freed_memory

    done = keep_freed_memory(settings.server.keep_freed_memory_mib)
    if done:
        logging.getLogger("sfumato").debug(done)


def cmd_serve(args: argparse.Namespace) -> int:
    from sfumato.api.app import create_app
    from sfumato.api.server import bind_socket, serve
    from sfumato.config import ConfigError, load_settings
    from sfumato.engine_pool import EngineSetupError
    from sfumato.logs import configure_logging
    from sfumato.plugins import PluginLoadError

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"sfumato: {exc}", file=sys.stderr)
        return 2
    if args.host:
        settings.server.host = args.host
    if args.port is not None:
        settings.server.port = args.port
    if args.queue:
        settings.queue.url = args.queue
    _keep_freed_memory(settings)
    host, port = settings.server.host, settings.server.port
    # The port first: a busy address is reported at once, not after minutes of model loading.
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        print(f"sfumato: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if settings.grpc.enabled:  # the same early check for the gRPC port, which its server binds at start-up
        try:
            bind_socket(host, settings.grpc.port).close()
        except OSError as exc:
            sock.close()
            print(f"sfumato: cannot listen for gRPC on {host}:{settings.grpc.port} (grpc.port): "
                  f"{exc.strerror or exc}", file=sys.stderr)
            return 2
    try:
        plugins = _load_plugins(args, settings)
        configure_logging(settings.server.log_level)
        # Plugin failures were logged once each, on one line, while loading.
        app = create_app(settings, plugins)
        # Again: building the app let Litestar replace the root logger's handlers.
        configure_logging(settings.server.log_level)
    except (ConfigError, PluginLoadError, EngineSetupError) as exc:
        sock.close()
        print(f"sfumato: {exc}", file=sys.stderr)
        return 2
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.server.api_keys:
        print(f"warning: listening on {host} without API keys: anyone who can reach it can use it", file=sys.stderr)
    engines = ", ".join(app.state.services.pool.slots) or "none"
    if settings.queue.url:
        from sfumato.backbone.connection import redact

        engines = f"those of the workers on {redact(settings.queue.url)}"
    print(f"sfumato serving on http://{host}:{port} (engines: {engines}; docs at /docs)", file=sys.stderr, flush=True)
    return 0 if serve(app, settings, sock=sock) else 3


def cmd_worker(args: argparse.Namespace) -> int:
    from sfumato.backbone.worker import run_worker
    from sfumato.config import ConfigError
    from sfumato.engine_pool import EngineSetupError
    from sfumato.logs import configure_logging
    from sfumato.plugins import PluginLoadError

    try:
        settings, plugins = _load(args)
        if args.queue:
            settings.queue.url = args.queue
        _keep_freed_memory(settings)
        if not settings.queue.url:
            raise ConfigError("a worker needs the backbone: --queue redis://HOST:PORT/DB, [queue] url or SFUMATO_QUEUE_URL")
        configure_logging(settings.server.log_level)
        run_worker(settings, plugins, metrics_port=args.metrics_port)
    except (ConfigError, PluginLoadError, EngineSetupError) as exc:
        print(f"sfumato: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_workers(args: argparse.Namespace) -> int:
    import asyncio

    from sfumato.backbone.status import describe_workers
    from sfumato.config import ConfigError, load_settings

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"sfumato: {exc}", file=sys.stderr)
        return 2
    url = args.queue or settings.queue.url
    if not url:
        print("sfumato: --queue redis://HOST:PORT/DB (or SFUMATO_QUEUE_URL) is needed", file=sys.stderr)
        return 2
    print(asyncio.run(describe_workers(url, settings.queue.prefix)))
    return 0


def _client(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import httpx

    headers = {}
    key = args.api_key or os.environ.get("SFUMATO_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.Client(base_url=args.server, headers=headers, timeout=httpx.Timeout(30.0, read=120.0))


def _fail_response(response: Any) -> int:
    try:
        body = response.json()
        message = f"{body.get('message')} (code {body.get('code')})"
    except ValueError:
        message = response.text[:500]
    print(f"sfumato: HTTP {response.status_code}: {message}", file=sys.stderr)
    return 1


def _get(args: argparse.Namespace, path: str) -> Any:
    """GET a JSON route of the server; an int is the exit status after printing the error."""
    with _client(args) as client:
        response = client.get(path)
    if response.status_code != 200:
        return _fail_response(response)
    return response.json()


def _engine_defaults(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Each engine's defaults from ``/plugins`` (ListEngines has no place for them); {} if unavailable."""
    with _client(args) as client:
        response = client.get("/plugins")
    if response.status_code != 200:
        return {}
    return {engine["id"]: engine for engine in response.json().get("engines", [])}


def cmd_engines(args: argparse.Namespace) -> int:
    if args.server:
        listing = _get(args, "/grpcgateway/engines")
        if isinstance(listing, int):
            return listing
        defaults = _engine_defaults(args)
        for engine in listing.get("engine", []):
            default = defaults.get(engine["id"], {})
            samplers = ", ".join(s.get("sampler", "SAMPLER_DDIM") for s in engine.get("supportedSamplers", []))
            state = "ready" if engine.get("ready") else "loading"
            print(f"{engine['id']:<24} {state:<8} {engine.get('name', '')}\n{'':<34}samplers: {samplers}")
            if default:
                print(f"{'':<34}default: {default.get('default_sampler')}, {default.get('default_steps')} steps, "
                      f"{default.get('native_width')}x{default.get('native_height')}")
        return 0
    settings, plugins = _load(args, check_samplers=False)  # listing the config needs only the kinds
    for entry in settings.engines:
        kind = "" if entry.kind in plugins.engine_kinds else "  (kind not installed)"
        sampler = entry.default_sampler or "engine default"
        print(f"{entry.id:<24} kind={entry.kind:<14} model={entry.model or '-'} sampler={sampler}{kind}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    if args.server:
        answer = _get(args, "/plugins")
        if isinstance(answer, int):
            return answer
        report = answer["plugins"]
    else:
        _, plugins = _load(args, every_sampler=True)
        report = [info.as_dict() for info in plugins.infos]
    for info in report:
        version = f" {info['version']}" if info.get("version") else ""
        print(f"{info['name']} ({info.get('distribution') or 'local'}{version})")
        for what in ("engines", "samplers", "adjustments"):
            if what == "samplers" and info.get("samplers_by_kind"):
                for kind, names in info["samplers_by_kind"].items():
                    print(f"    samplers for {kind}: {', '.join(names)}")
            elif info.get(what):
                print(f"    {what}: {', '.join(info[what])}")
        if info.get("error"):
            print(f"    FAILED: {info['error']}")
        for problem in info.get("problems") or ():
            print(f"    FAILED: {problem}")
        for warning in info.get("warnings") or ():
            print(f"    warning: {warning}")
    return 1 if any(info.get("error") or info.get("problems") for info in report) else 0


def _request_body(args: argparse.Namespace) -> dict[str, Any]:
    prompts: list[dict[str, Any]] = [{"text": args.prompt}]
    if args.negative:
        prompts.append({"text": args.negative, "parameters": {"weight": -1.0}})
    for kind, path in (("ARTIFACT_IMAGE", args.init_image), ("ARTIFACT_MASK", args.mask)):
        if path:
            data = base64.b64encode(Path(path).read_bytes()).decode()
            prompts.append({"artifact": {"type": kind, "binary": data}})
    image: dict[str, Any] = {"samples": args.samples}
    for name in ("width", "height", "steps"):
        if getattr(args, name) is not None:
            image[name] = getattr(args, name)
    if args.seed is not None:
        image["seed"] = [args.seed]
    if args.sampler:
        image["transform"] = {"diffusion": args.sampler}
    step: dict[str, Any] = {}
    if args.cfg_scale is not None:
        step["sampler"] = {"cfgScale": args.cfg_scale}
    if args.strength is not None:
        step["schedule"] = {"start": args.strength}
    if step:
        image["parameters"] = [step]
    if args.param:
        image["extension"] = {"parameters": [{"name": name, kind: value} for name, kind, value in args.param]}
    return {"engineId": args.engine or "", "prompt": prompts, "image": image}


_PARAM_TYPES = ("int", "float", "str")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def parse_param(text: str) -> tuple[str, str, Any]:
    """``NAME=VALUE`` or ``NAME:TYPE=VALUE`` → (name, wire kind, proto3-JSON value).

    Without a type, a whole number is an int, another decimal number a float and
    anything else a string (the server takes an int for a float parameter too);
    ``NAME:str=42`` sends digits as a string.
    """
    name, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE or NAME:TYPE=VALUE (TYPE: int, float, str)")
    name, colon, kind = name.partition(":")
    name = name.strip()
    if not name:
        raise argparse.ArgumentTypeError(f"{text!r}: the parameter name is empty")
    if colon:
        if kind not in _PARAM_TYPES:
            raise argparse.ArgumentTypeError(f"{text!r}: type {kind!r} is not one of int, float, str")
    else:
        kind = "int" if _INT.fullmatch(value) else "float" if _FLOAT.fullmatch(value) else "str"
    if kind == "int":
        if not _INT.fullmatch(value.strip()):
            raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a whole number")
        return name, kind, str(int(value))  # int64 travels as a string in proto3 JSON
    if kind == "float":
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a finite number")
        return name, kind, number
    return name, kind, value


def _output_path(base: Path, index: int, total: int) -> Path:
    return base if total == 1 else base.with_name(f"{base.stem}-{index}{base.suffix or '.png'}")


def cmd_generate(args: argparse.Namespace) -> int:
    from sfumato.cli_progress import GenerateProgress

    output = Path(args.output)
    for path in (args.init_image, args.mask):
        if path and not Path(path).is_file():
            print(f"sfumato: no such file: {path}", file=sys.stderr)
            return 2
    started = time.monotonic()
    written = 0
    with _client(args) as client:
        response = client.post("/grpcgateway/asyncGenerate", json=_request_body(args))
        if response.status_code != 200:
            return _fail_response(response)
        handle = response.json()
        try:
            with GenerateProgress(client, handle["asyncHandle"], args.samples) as progress:
                while True:
                    response = client.post("/grpcgateway/asyncResult", json=handle)
                    if response.status_code != 200:
                        return _fail_response(response)
                    result = response.json()
                    for answer in result.get("answer", []):  # each image is written as it arrives
                        for artifact in answer.get("artifacts", []):
                            path = _output_path(output, int(artifact.get("index", 0)), args.samples)
                            path.write_bytes(base64.b64decode(artifact["binary"]))
                            written += 1
                            progress.wrote(str(path), artifact.get("seed", 0))
                    if result.get("complete"):
                        break
            status = result.get("status") or {}
            print(f"{written}/{args.samples} images in {time.monotonic() - started:.1f}s", file=sys.stderr)
            if status.get("code", 0):
                print(f"sfumato: generation failed: {status.get('message')} (code {status['code']})", file=sys.stderr)
                return 1
            return 0
        except KeyboardInterrupt:
            client.post("/grpcgateway/asyncCancel", json=handle)
            print("\ncancelled", file=sys.stderr)
            return 130


def build_parser() -> argparse.ArgumentParser:
    from sfumato import PLUGIN_API_VERSION, __version__

    parser = argparse.ArgumentParser(prog="sfumato", description="Self-hosted image generation server.")
    parser.add_argument("--version", action="version", version=f"sfumato {__version__} (plugin API {PLUGIN_API_VERSION})")
    sub = parser.add_subparsers(dest="command", required=True)

    def local_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="TOML config file (default: $SFUMATO_CONFIG or the embedded default)")
        p.add_argument("--strict", action="store_true", help="fail if any plugin fails to load")
        p.add_argument("--only-plugins", help="comma-separated entry-point names to load (default: all)")

    def remote_options(p: argparse.ArgumentParser, default: str | None) -> None:
        p.add_argument("--server", default=default, help="server URL" + (f" (default {default})" if default else ""))
        p.add_argument("--api-key", help="API key (default: $SFUMATO_API_KEY)")

    serve = sub.add_parser("serve", help="run the HTTP server")
    local_options(serve)
    serve.add_argument("--host", help="address to bind (default from config: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default from config: 5000)")
    serve.add_argument("--queue", help="job backbone redis://HOST:PORT/DB: engines run in `sfumato worker` processes")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run the engines of a config for API replicas, through the job backbone")
    local_options(worker)
    worker.add_argument("--queue", help="job backbone redis://HOST:PORT/DB (default: [queue] url, $SFUMATO_QUEUE_URL)")
    worker.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    worker.set_defaults(func=cmd_worker)

    workers = sub.add_parser("workers", help="list live workers, their engines and current jobs")
    workers.add_argument("--config", help="TOML config file (for [queue] url and prefix)")
    workers.add_argument("--queue", help="job backbone redis://HOST:PORT/DB")
    workers.set_defaults(func=cmd_workers)

    engines = sub.add_parser("engines", help="list engines (configured locally, or of a running --server)")
    local_options(engines)
    remote_options(engines, None)
    engines.set_defaults(func=cmd_engines)

    plugins = sub.add_parser("plugins", help="list plugins, what they registered and failures")
    local_options(plugins)
    remote_options(plugins, None)
    plugins.set_defaults(func=cmd_plugins)

    generate = sub.add_parser("generate", help="generate images on a running server")
    generate.add_argument("prompt")
    generate.add_argument("-o", "--output", default="out.png", help="output PNG (several samples: out-1.png, …)")
    generate.add_argument("--negative", help="negative prompt")
    generate.add_argument("--engine", help="engine id (default: the server's default engine)")
    generate.add_argument("--seed", type=int)
    generate.add_argument("--width", type=int)
    generate.add_argument("--height", type=int)
    generate.add_argument("--steps", type=int)
    generate.add_argument("--samples", type=int, default=1)
    generate.add_argument("--sampler", help="e.g. SAMPLER_K_EULER")
    generate.add_argument("--cfg-scale", type=float)
    generate.add_argument("--init-image", help="image to start from (img2img)")
    generate.add_argument("--mask", help="mask for the init image: white = regenerate, black = keep")
    generate.add_argument("--strength", type=float, help="how much of the init image to re-generate, 0..1")
    generate.add_argument(
        "--param", action="append", type=parse_param, default=[], metavar="NAME[:TYPE]=VALUE",
        help="an engine's extension parameter (repeatable); TYPE int, float or str, "
        "else taken from VALUE: 12 is an int, 0.5 a float, other text a string",
    )
    remote_options(generate, _server_default())
    generate.set_defaults(func=cmd_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "server", None) is None and args.command == "generate":
        args.server = _server_default()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a CLI prints errors, it does not dump tracebacks
        if type(exc).__module__.startswith("httpx"):
            print(f"sfumato: cannot reach the server at {getattr(args, 'server', '?')}: {exc}", file=sys.stderr)
            return 1
        if type(exc).__name__ in ("ConfigError", "PluginLoadError"):
            print(f"sfumato: {exc}", file=sys.stderr)
            return 2
        raise


