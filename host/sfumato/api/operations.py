"""Operator routes: plugins, health, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, MediaType, Response, get, head
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import SkipValidation
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sfumato.api.openapi import API_KEY_REQUIRED, RpcOperation, error_responses
from sfumato.api.services import Services
from sfumato.records import ExtensionParam


class Readiness(msgspec.Struct):
    """Whether every engine has loaded; the per-engine detail is in the authenticated ``/plugins``."""

    ready: bool


def plugin_report(services: Services) -> dict[str, Any]:
    plugins = services.plugins
    test_controls = services.settings.server.test_controls
    engines = []
    for slot in services.pool.slots.values():
        description = slot.describe()
        engines.append({
            "id": slot.id,
            "kind": slot.config.kind,
            "ready": slot.ready,
            "status": slot.load_status,
            "error": slot.load_error,
            "default_sampler": description.default_sampler,
            "default_steps": description.default_steps,
            "native_width": description.native_width,
            "native_height": description.native_height,
            # The standard parameters it honours (null: all); sending another is a 501.
            "uses": None if description.uses is None else sorted(description.uses),
            # What clients (the playground) may offer: the rest is refused with a 501 or 400.
            "supports": {"init_image": description.supports_init_image, "mask": description.supports_mask,
                         "lora": description.supports_lora, "tiling": description.supports_tiling,
                         "hires": description.supports_hires},
            "limits": msgspec.structs.asdict(slot.config.limits),
            # An upscaling engine's image.transform.upscaler values (empty for a generating engine).
            "upscalers": list(description.upscalers),
            # Test-only parameters are refused unless enabled, so they are not advertised either.
            "extensions": [
                _extension(param) for param in description.extensions if test_controls or not param.test_control
            ],
        })
    report: dict[str, Any] = {
        "plugins": [info.as_dict() for info in plugins.infos],
        # One entry per failure: a plugin that did not load, or one record of it that was refused.
        "failures": plugins.failure_lines(),
        "engines": engines,
        "skipped_engines": [{"id": engine_id, "reason": reason} for engine_id, reason in services.pool.skipped],
    }
    if services.settings.queue.url:  # an API replica: engines live in workers
        report["backbone"] = backbone_report(services)
    return report


def backbone_report(services: Services) -> dict[str, Any]:
    from sfumato.backbone.connection import redact

    pool = services.pool
    return {
        "url": redact(services.settings.queue.url),
        "reachable": pool.reachable,
        "workers": [
            {"id": worker.id, "host": worker.host, "pid": worker.pid, "running": worker.running,
             "engines": {engine_id: status.ready for engine_id, status in worker.engines.items()}}
            for worker in pool.workers.values()
        ],
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

    @get("/plugins", summary="Installed plugins, what each registered, load failures, and each engine's state",
         description="Each engine's load status, defaults (sampler, steps, native size) and the "
         "`image.extension.parameters[]` it accepts.",
         security=API_KEY_REQUIRED, responses=error_responses(400, 401, 429, 500, 503), operation_class=RpcOperation)
    async def plugins(self, services: NamedDependency[SkipValidation[Services]]) -> dict[str, Any]:
        return plugin_report(services)

    @get("/healthz", summary="Liveness: the process is up", description="No API key needed.")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @head("/healthz", summary="Liveness, without a body", description="No API key needed.", media_type=MediaType.TEXT)
    async def healthz_head(self) -> None:
        return None

    @get("/readyz", summary="Readiness: every engine is loaded", status_code=200,
         description="200 once every engine has loaded, 503 until then (and for good if one failed to load). "
         "No API key needed; the per-engine status is in `/plugins`.",
         responses={503: ResponseSpec(Readiness, description="Not ready yet", generate_examples=False)})
    async def readyz(self, services: NamedDependency[SkipValidation[Services]]) -> Response[Readiness]:
        ready = services.pool.all_ready
        return Response(Readiness(ready=ready), status_code=200 if ready else 503)

    @get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST, security=API_KEY_REQUIRED,
         responses={200: ResponseSpec(str, media_type=CONTENT_TYPE_LATEST, description="Prometheus text format",
                                      generate_examples=False), **error_responses(400, 401, 500, 503)},
         operation_class=RpcOperation)
    async def metrics(self, services: NamedDependency[SkipValidation[Services]]) -> Response[bytes]:
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
