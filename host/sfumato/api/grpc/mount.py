"""The binary dialects as the app wires them: the native gRPC server and the gRPC-web routes."""

from __future__ import annotations

from typing import Any

from litestar.handlers import asgi
from litestar.types import Receive, Scope, Send

from sfumato.api.grpc.methods import GenerationMethods
from sfumato.api.grpc.server import GrpcServer
from sfumato.api.grpc.web import GrpcWebApp, grpc_web_refusals
from sfumato.api.services import Services
from sfumato.config import Settings


class BinaryDialects:
    def __init__(self, services: Services, settings: Settings) -> None:
        grpc = settings.grpc
        self.methods = GenerationMethods(services).table()
        self.server = GrpcServer(self.methods, settings) if grpc.enabled else None
        self.web = (
            GrpcWebApp(self.methods, grpc.max_receive_message_bytes, grpc.max_send_message_bytes)
            if grpc.web_enabled
            else None
        )
        self.grace_seconds = settings.jobs.shutdown_grace_seconds

    def web_routes(self) -> list[Any]:
        if self.web is None:
            return []
        services = sorted({path.split("/")[1] for path in self.methods})
        return [self._service_route(service, self.web) for service in services]

    @staticmethod
    def _service_route(service: str, web: GrpcWebApp) -> Any:
        # Mounted per service, so an unknown method of a known service is a gRPC UNIMPLEMENTED, not a JSON 404.
        async def grpc_web(scope: Scope, receive: Receive, send: Send) -> None:
            method = scope["path"].strip("/")  # what follows the mount path
            await web(scope, receive, send, f"/{service}/{method}")

        return asgi(path=f"/{service}", is_mount=True, copy_scope=True, name=f"grpc-web:{service}")(grpc_web)

    def middleware(self) -> list[Any]:
        return [grpc_web_refusals] if self.web is not None else []

    async def start(self) -> None:
        if self.server is not None:
            await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(self.grace_seconds)
