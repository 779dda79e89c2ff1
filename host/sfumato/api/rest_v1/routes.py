"""The Stability REST v1 routes, on the same job core as the proto3-JSON routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import pybase64
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, SkipValidation

from sfumato import wire
from sfumato.api.auth import client_of
from sfumato.api.disconnect import unless_disconnected
from sfumato.api.engines import list_engines
from sfumato.api.openapi import API_KEY_REQUIRED, RpcOperation
from sfumato.api.rest_v1 import translate
from sfumato.api.rest_v1.body import RestBody
from sfumato.api.rest_v1.errors import EXCEPTION_HANDLERS, RestError, bad_request
from sfumato.api.rest_v1.openapi import GENERATION_RESPONSE, FormOperation, GenerationOperation, error_responses
from sfumato.api.rest_v1.shapes import (
    Account,
    ArtifactsResponse,
    Balance,
    EngineListing,
    ImageArtifact,
    ImageToImageOptions,
    MaskingOptions,
    Organization,
    TextToImageOptions,
    UpscaleOptions,
)
from sfumato.api.services import Services
from sfumato.engines import EngineDescription
from sfumato.errors import Code, RpcError
from sfumato.jobs.cancel import CancelToken
from sfumato.jobs.state import ImageResult, JobState

JSON = "application/json"
PNG = "image/png"
# A self-hosted server has no credits to spend: a fixed, ample balance lets clients that
# check it before generating go ahead.
LOCAL_CREDITS = 1_000_000.0
LOCAL_ACCOUNT = Account(
    id="local",
    email="local@localhost",
    profile_picture="",
    organizations=[Organization(id="org-local", name="sfumato", role="OWNER", is_default=True)],
)

T = TypeVar("T")
Services_ = NamedDependency[SkipValidation[Services]]
_GENERATION_ERRORS = error_responses(400, 401, 404, 429, 500, 501, 503)


def _generating_engine(services: Services, engine_id: str) -> EngineDescription:
    slot = services.pool.get(engine_id)
    if slot is None:
        raise RestError(404, "not_found", f"engine_id: no engine {engine_id!r}; available engines: "
                                          f"{', '.join(sorted(services.pool.ids())) or 'none'}")
    description = slot.describe()
    if getattr(description, "upscalers", ()) and not description.samplers:
        raise bad_request(f"engine_id: {engine_id!r} only upscales images; "
                          f"send them to /v1/generation/{engine_id}/image-to-image/upscale")
    return description


def _required(data: T | None) -> T:
    if data is None:
        raise bad_request("the body is empty; send text_prompts and the route's options")
    return data


async def _results(state: JobState) -> list[ImageResult]:
    results = [result async for result in state.stream()]
    return sorted(results, key=lambda result: result.index)


async def _generate(
    request: Request, services: Services, wire_request: wire.Request, samples: int, image_field: str = "init_image"
) -> Response[bytes]:
    """Run ``wire_request`` through the job core and answer in the format the client accepts."""
    want_png = request.accept.best_match([JSON, PNG], default=JSON) == PNG
    if want_png and samples != 1:
        raise RestError(400, "invalid_samples", f"samples: must be 1 with Accept: image/png (one PNG per response), "
                                                f"got {samples}; ask for application/json to get several")
    cancel = CancelToken()
    try:
        state = await unless_disconnected(
            request,
            services.accept(wire_request, client=client_of(request.scope), cancel=cancel),
            lambda: cancel.cancel("the client disconnected"),
        )
    except RpcError as exc:  # name the form field, not the prompt the core saw
        raise RpcError(exc.code, translate.rest_paths(exc.message, wire_request, image_field),
                       retry_after_seconds=exc.retry_after_seconds) from exc
    results = await unless_disconnected(
        request, _results(state), lambda: services.scheduler.cancel(state, "the client disconnected")
    )
    if not results:
        raise RpcError(Code.INTERNAL, f"job {state.job.request_id} finished without an image")
    if want_png:
        first = results[0]
        return Response(first.png, media_type=PNG, headers={"Finish-Reason": _finish_reason(first),
                                                             "Seed": str(first.seed)})
    artifacts = [
        ImageArtifact(base64=pybase64.b64encode(result.png).decode("ascii"), seed=result.seed,
                      finishReason=_finish_reason(result))
        for result in results
    ]
    return Response(_encoder.encode(ArtifactsResponse(artifacts=artifacts)), media_type=JSON)


def _finish_reason(result: ImageResult) -> str:
    return "CONTENT_FILTERED" if result.filtered else "SUCCESS"


_encoder = msgspec.json.Encoder()


async def _generate_with(request: Request, services: Services, engine_id: str, options: Any,
                         to_wire: Callable[..., wire.Request]) -> Response[bytes]:
    """A generation route: the REST options become the Request a gRPC client would send."""
    description = _generating_engine(services, engine_id)
    wire_request = to_wire(engine_id, options, description.accepts, description.supports_clip_guidance)
    return await _generate(request, services, wire_request, options.samples or 1)


class RestV1Controller(Controller):
    path = "/v1"
    tags = ["REST v1"]
    security = API_KEY_REQUIRED
    exception_handlers = EXCEPTION_HANDLERS  # type: ignore[assignment]

    @post("/generation/{engine_id:str}/text-to-image", status_code=200, dto=RestBody[TextToImageOptions],
          return_dto=None, summary="Text to image",
          description="Generates images from text prompts. The body is JSON; defaults and bounds as Stability's "
          "REST v1 (cfg_scale 0–35, steps 10–150, samples 1–10, width and height multiples of 64 from 128).",
          responses={200: GENERATION_RESPONSE, **_GENERATION_ERRORS}, operation_class=GenerationOperation)
    async def text_to_image(self, request: Request, services: Services_, engine_id: FromPath[str],
                            data: JSONBody[TextToImageOptions | None] = None) -> Response[bytes]:
        return await _generate_with(request, services, engine_id, _required(data), translate.text_to_image)

    @post("/generation/{engine_id:str}/image-to-image", status_code=200, dto=RestBody[ImageToImageOptions],
          return_dto=None, summary="Image to image",
          description="Generates images from an init image and text prompts. The body is multipart/form-data: "
          "init_image as a file part (PNG, JPEG or WebP; a part without a Content-Type is recognised from its "
          "bytes), prompts as text_prompts[i][text] / text_prompts[i][weight], the rest as plain fields.",
          responses={200: GENERATION_RESPONSE, **_GENERATION_ERRORS}, operation_class=FormOperation)
    async def image_to_image(self, request: Request, services: Services_, engine_id: FromPath[str],
                             data: JSONBody[ImageToImageOptions | None] = None) -> Response[bytes]:
        return await _generate_with(request, services, engine_id, _required(data), translate.image_to_image)

    @post("/generation/{engine_id:str}/image-to-image/masking", status_code=200, dto=RestBody[MaskingOptions],
          return_dto=None, summary="Image to image with a mask",
          description="Repaints part of an init image: where mask_image is white (MASK_IMAGE_WHITE), where it is "
          "black (MASK_IMAGE_BLACK), or where init_image is transparent (INIT_IMAGE_ALPHA). Pixels outside the "
          "mask come back unchanged. multipart/form-data, like image-to-image.",
          responses={200: GENERATION_RESPONSE, **_GENERATION_ERRORS}, operation_class=FormOperation)
    async def masking(self, request: Request, services: Services_, engine_id: FromPath[str],
                      data: JSONBody[MaskingOptions | None] = None) -> Response[bytes]:
        return await _generate_with(request, services, engine_id, _required(data), translate.image_to_image)

    @post("/generation/{engine_id:str}/image-to-image/upscale", status_code=200, dto=RestBody[UpscaleOptions],
          return_dto=None, summary="Upscale",
          description="Upscales an image on an upscaling engine (one whose ListEngines entry serves upscalers) to "
          "the given width or height (not both; the other keeps the aspect ratio), or by the engine's default "
          "factor. Any other engine_id is a 404. multipart/form-data with the image as a file part.",
          responses={200: GENERATION_RESPONSE, **_GENERATION_ERRORS}, operation_class=FormOperation)
    async def upscale(self, request: Request, services: Services_, engine_id: FromPath[str],
                      data: JSONBody[UpscaleOptions | None] = None) -> Response[bytes]:
        options = _required(data)
        slot = services.pool.get(engine_id)
        upscalers = tuple(getattr(slot.describe(), "upscalers", ())) if slot is not None else ()
        if not upscalers:
            known = sorted(other.id for other in services.pool.slots.values()
                           if getattr(other.describe(), "upscalers", ()))
            raise RestError(404, "not_found", f"engine_id: {engine_id!r} is not an upscaling engine; upscaling "
                                              f"engines: {', '.join(known) or 'none on this server'}")
        wire_request = translate.upscale(engine_id, options, upscalers[0])
        return await _generate(request, services, wire_request, 1, image_field="image")

    @get("/engines/list", summary="List engines", responses=error_responses(401, 429, 500), operation_class=RpcOperation,
         description="The engines this server offers, as a bare array (type is PICTURE for image engines).")
    async def engines(self, services: Services_) -> list[EngineListing]:
        return [
            EngineListing(id=info.id, name=info.name, description=info.description, type=info.type.value)
            for info in list_engines(services).engine
        ]

    @get("/user/account", summary="Account", responses=error_responses(401, 429, 500), operation_class=RpcOperation,
         description="A fixed local account: a self-hosted server has no user accounts.")
    async def account(self) -> Account:
        return LOCAL_ACCOUNT

    @get("/user/balance", summary="Balance", responses=error_responses(401, 429, 500), operation_class=RpcOperation,
         description=f"A fixed balance of {LOCAL_CREDITS:g} credits: a self-hosted server charges nothing.")
    async def balance(self) -> Balance:
        return Balance(credits=LOCAL_CREDITS)
