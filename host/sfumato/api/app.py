"""The Litestar application: routes, DI, error mapping, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components

from sfumato import __version__
from sfumato.api.auth import api_key_middleware
from sfumato.api.docs_page import DocsController, DocsRenderPlugin
from sfumato.api.engines import EnginesController
from sfumato.api.errors import EXCEPTION_HANDLERS
from sfumato.api.events import EventsController
from sfumato.api.generation import GenerationController
from sfumato.api.openapi import SECURITY_SCHEMES, openapi_plugins
from sfumato.api.operations import OperationsController
from sfumato.api.playground import PlaygroundController
from sfumato.api.rate_limit import rate_limit_middleware
from sfumato.api.rest_v1.openapi import FilePartSchemaPlugin
from sfumato.api.rest_v1.routes import RestV1Controller
from sfumato.api.services import Services
from sfumato.config import Settings
from sfumato.plugins import Plugins

log = logging.getLogger("sfumato")


def _services(state: State) -> Services:
    return state.services


def create_app(settings: Settings, plugins: Plugins) -> Litestar:
    """Build the app; engines are created now and loaded by their workers after startup."""
    services = Services.create(settings, plugins)
    binary: Any = None
    if settings.grpc.enabled or settings.grpc.web_enabled:
        from sfumato.api.grpc.mount import BinaryDialects  # grpc is imported only when a binary dialect is on

        binary = BinaryDialects(services, settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services.start()
        try:
            if binary is not None:
                await binary.start()
            try:
                yield
            finally:
                if binary is not None:  # in-flight calls get the shutdown grace while jobs still run
                    await binary.stop()
        finally:
            await services.stop()

    openapi = OpenAPIConfig(
        title="sfumato generation API",
        version=__version__,
        description="The Stability/Gyre generation API (proto3 JSON over HTTP). See docs/api.md.",
        path="/schema",
        # Litestar's viewers load scripts and fonts from CDNs: /schema shows the offline page instead.
        render_plugins=[DocsRenderPlugin(), JsonRenderPlugin(), YamlRenderPlugin()],
        components=Components(security_schemes=SECURITY_SCHEMES),
        create_examples=False,
    )
    return Litestar(
        route_handlers=[GenerationController, EnginesController, OperationsController, DocsController, PlaygroundController,
                        EventsController, RestV1Controller, *(binary.web_routes() if binary else [])],
        dependencies={"services": Provide(_services, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        # Outermost first: who is calling, then whether they may call now.
        # (gRPC-web calls get those refusals as gRPC-web statuses.)
        middleware=[*(binary.middleware() if binary else []), api_key_middleware(settings.server.api_keys),
                    rate_limit_middleware(settings.quotas.requests_per_minute)],
        lifespan=[lifespan],
        state=State({"services": services}),
        openapi_config=openapi,
        plugins=[*openapi_plugins({name: spec.params for name, spec in plugins.adjustments.items()}), FilePartSchemaPlugin()],
        request_max_body_size=settings.limits.max_body_bytes,
        cors_config=CORSConfig(allow_origins=settings.server.cors_origins, allow_headers=["*"], expose_headers=[
            "Retry-After", "grpc-status", "grpc-message", "Finish-Reason", "Seed"])
        if settings.server.cors_origins
        else None,
        on_app_init=[_no_debug],
    )


def _no_debug(config: AppConfig) -> AppConfig:
    config.debug = False
    return config
