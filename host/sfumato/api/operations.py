"""Operator routes: plugins, health, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import SkipValidation
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sfumato.api.services import Services
from sfumato.records import ExtensionParam


def plugin_report(services: Services) -> dict[str, Any]:
    plugins = services.plugins
    return {
        "plugins": [info.as_dict() for info in plugins.infos],
        "failures": [{"name": info.name, "error": info.error} for info in plugins.failures],
        "engines": [
            {
                "id": slot.id,
                "kind": slot.config.kind,
                "ready": slot.ready,
                "status": slot.load_status,
                "error": slot.load_error,
                "extensions": [_extension(param) for param in slot.describe().extensions],
            }
            for slot in services.pool.slots.values()
        ],
        "skipped_engines": [{"id": engine_id, "reason": reason} for engine_id, reason in services.pool.skipped],
    }


def _extension(param: ExtensionParam) -> dict[str, Any]:
    """An ``image.extension.parameters[]`` entry the engine accepts, for API users."""
    return {
        "name": param.name,
        "type": param.type,
        "description": param.description,
        "default": param.default,
        "minimum": param.minimum,
        "maximum": param.maximum,
        "choices": list(param.choices),
    }


class OperationsController(Controller):
    tags = ["Operations"]

    @get("/plugins", summary="Installed plugins, what each registered, and load failures")
    async def plugins(self, services: NamedDependency[SkipValidation[Services]]) -> dict[str, Any]:
        return plugin_report(services)

    @get("/healthz", summary="Liveness: the process is up")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", summary="Readiness: every engine is loaded", status_code=200)
    async def readyz(self, services: NamedDependency[SkipValidation[Services]]) -> Response[dict[str, Any]]:
        engines = {slot.id: slot.load_status for slot in services.pool.slots.values()}
        ready = services.pool.all_ready
        return Response({"ready": ready, "engines": engines}, status_code=200 if ready else 503)

    @get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self, services: NamedDependency[SkipValidation[Services]]) -> Response[bytes]:
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
