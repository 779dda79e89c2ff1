"""EnginesService over HTTP: ListEngines (GET or POST)."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, SkipValidation

from sfumato import wire
from sfumato.api.openapi import API_KEY_REQUIRED, RpcOperation, error_responses
from sfumato.api.services import Services
from sfumato.api.wire_body import WireBody
from sfumato.wire_codec import encode_message


def list_engines(services: Services) -> wire.Engines:
    infos = []
    for slot in services.pool.slots.values():
        if not slot.config.visible:
            continue
        description = slot.describe()
        samplers = []
        for name in description.samplers:
            spec = slot.samplers.get(name)
            if spec is None:
                continue
            samplers.append(
                wire.EngineSampler(
                    sampler=name,
                    supports_eta=spec.supports_eta,
                    supports_churn=spec.supports_churn,
                    supports_sigma_limits=spec.supports_sigma_limits,
                    supports_karras_rho=spec.supports_karras_rho,
                    supported_noise_types=[wire.SamplerNoiseType(n) for n in spec.noise_types],
                )
            )
        infos.append(
            wire.EngineInfo(
                id=slot.id,
                owner=slot.kind.owner or "sfumato",
                ready=slot.ready,
                type=wire.EngineType.PICTURE,
                name=slot.config.name or slot.id,
                description=slot.config.description or slot.kind.description,
                supported_samplers=samplers,
            )
        )
    return wire.Engines(engine=infos)


class EnginesController(Controller):
    path = "/grpcgateway/engines"
    tags = ["EnginesService"]
    security = API_KEY_REQUIRED

    @get(summary="ListEngines", description="The engines this server offers, whether each is loaded, and its samplers.",
         responses=error_responses(400, 401, 429, 500, 503), operation_class=RpcOperation)
    async def list_get(self, services: NamedDependency[SkipValidation[Services]]) -> Response[wire.Engines]:
        return Response(encode_message(list_engines(services)), media_type="application/json")

    @post(status_code=200, dto=WireBody[wire.ListEnginesRequest], return_dto=None, summary="ListEngines (POST)",
          description="Same as GET; the body is a ListEnginesRequest (may be empty).",
          responses=error_responses(400, 401, 408, 429, 500, 503), operation_class=RpcOperation)
    async def list_post(
        self, services: NamedDependency[SkipValidation[Services]], data: JSONBody[wire.ListEnginesRequest | None] = None
    ) -> Response[wire.Engines]:
        return Response(encode_message(list_engines(services)), media_type="application/json")
