"""The native gRPC server (grpcio asyncio) on ``[grpc] port``, started and stopped with the app.

Handlers take the raw request bytes (no deserializer) so that each method decodes
its own request and a malformed one is INVALID_ARGUMENT. Errors leave with the
google.rpc code and message the JSON routes use, plus the google.rpc.Status in the
``grpc-status-details-bin`` trailer; anything unexpected is INTERNAL with an
incident id, never grpcio's UNKNOWN. The standard health service and server
reflection are registered too.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from google.rpc import status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from sfumato.api.grpc.gate import CallGate
from sfumato.api.grpc.methods import Method
from sfumato.config import ConfigError, Settings
from sfumato.errors import Code, RpcError
from sfumato.proto import dashboard_pb2, engines_pb2, generation_pb2

log = logging.getLogger("sfumato.grpc")

SERVICE_NAMES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (generation_pb2, "GenerationService"),
        (engines_pb2, "EnginesService"),
        (dashboard_pb2, "DashboardService"),
    )
)


def grpc_status(error: RpcError) -> grpc.Status:
    """The call's status: code, message, the google.rpc.Status detail and Retry-After when known."""
    status = rpc_status.to_status(status_pb2.Status(code=int(error.code), message=error.message))
    if error.retry_after_seconds is not None:
        retry = ("retry-after", str(max(1, math.ceil(error.retry_after_seconds))))
        status = _Status(status.code, status.details, (*status.trailing_metadata, retry))
    return status


class _Status(grpc.Status):
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[Any, ...]) -> None:
        self.code, self.details, self.trailing_metadata = code, details, trailing_metadata


def internal_error(path: str, exc: BaseException) -> RpcError:
    incident = uuid.uuid4().hex[:12]
    log.error("internal error %s in %s", incident, path, exc_info=exc)
    return RpcError(Code.INTERNAL, f"internal error (incident {incident}); the server log has the details")


def _unary(method: Method, gate: CallGate) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Any]]:
    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            client = gate.admit(context.invocation_metadata() or (), context.peer())
            return await method.run(method.decode(data), client)
        except RpcError as error:
            await context.abort_with_status(grpc_status(error))
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await context.abort_with_status(grpc_status(internal_error(method.path, exc)))

    return handle


def _streaming(method: Method, gate: CallGate) -> Callable[[bytes, grpc.aio.ServicerContext], AsyncIterator[Any]]:
    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            client = gate.admit(context.invocation_metadata() or (), context.peer())
            async for answer in method.run(method.decode(data), client):
                yield answer
        except RpcError as error:
            await context.abort_with_status(grpc_status(error))
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await context.abort_with_status(grpc_status(internal_error(method.path, exc)))

    return handle


def generic_handlers(methods: dict[str, Method], gate: CallGate) -> list[grpc.GenericRpcHandler]:
    by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
    for path, method in methods.items():
        service, name = path.lstrip("/").split("/")
        serializer = method.response_type.SerializeToString
        if method.streaming:
            handler = grpc.unary_stream_rpc_method_handler(_streaming(method, gate), response_serializer=serializer)
        else:
            handler = grpc.unary_unary_rpc_method_handler(_unary(method, gate), response_serializer=serializer)
        by_service.setdefault(service, {})[name] = handler
    return [grpc.method_handlers_generic_handler(service, handlers) for service, handlers in by_service.items()]


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _read(path: str, name: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"grpc.{name}: cannot read {path}: {exc.strerror}") from exc


class GrpcServer:
    def __init__(self, methods: dict[str, Method], settings: Settings) -> None:
        self.settings = settings
        self.methods = methods
        self.gate = CallGate(settings)
        self.server: grpc.aio.Server | None = None
        self.health = health.aio.HealthServicer()

    async def start(self) -> None:
        grpc_settings = self.settings.grpc
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", grpc_settings.max_receive_message_bytes),
                ("grpc.max_send_message_length", grpc_settings.max_send_message_bytes),
                # Without this a second server could bind the same port and steal half the calls.
                ("grpc.so_reuseport", 0),
            ]
        )
        server.add_generic_rpc_handlers(generic_handlers(self.methods, self.gate))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        address = listen_address(self.settings.server.host, grpc_settings.port)
        try:
            if grpc_settings.tls_cert:
                credentials = grpc.ssl_server_credentials(
                    [(_read(grpc_settings.tls_key, "tls_key"), _read(grpc_settings.tls_cert, "tls_cert"))]
                )
                server.add_secure_port(address, credentials)
            else:
                server.add_insecure_port(address)
        except RuntimeError as exc:
            raise OSError(f"cannot listen for gRPC on {address} (grpc.port): {exc}") from exc
        await server.start()
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.server = server
        log.info("gRPC listening on %s (%s)", address, "TLS" if grpc_settings.tls_cert else "plaintext")

    async def stop(self, grace_seconds: float) -> None:
        if self.server is not None:
            await self.health.enter_graceful_shutdown()
            await self.server.stop(grace_seconds)
            self.server = None
