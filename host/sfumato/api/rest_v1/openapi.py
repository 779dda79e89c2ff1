"""What the REST v1 handlers' signatures do not tell Litestar's OpenAPI generator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    RequestBody,
    Schema,
)
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from sfumato.api.openapi import RpcOperation
from sfumato.api.rest_v1.errors import ErrorBody
from sfumato.api.rest_v1.shapes import ArtifactsResponse, FilePart

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator


class FilePartSchemaPlugin(OpenAPISchemaPlugin):
    """Image parts of a multipart form are binary, not base64."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation is FilePart

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        return Schema(type=OpenAPIType.STRING, format="binary",
                      description="Image bytes (PNG, JPEG or WebP); a Content-Type on the part is optional")


_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("The request is malformed or out of bounds; `name` is bad_request or a more specific documented name "
          "(invalid_samples, invalid_height_or_width, invalid_mime_type, invalid_mask_image, invalid_image_dimensions, "
          "invalid_file_size, invalid_pixel_count).",
          "invalid_height_or_width", "height: expected int that is a multiple of 64, got 500"),
    401: ("The server has API keys and the request carries no valid `Authorization: Bearer <key>`.",
          "unauthorized", "missing Authorization header: send 'Authorization: Bearer <key>'"),
    404: ("No such engine (or, for upscale, no such upscaling engine).",
          "not_found", "engine_id: no engine 'nope'; available engines: test-pattern"),
    429: ("A queue, quota or rate limit is full; retry after `Retry-After` seconds.",
          "rate_limit_exceeded", "the queue is full (64 jobs waiting, jobs.queue_size); retry later"),
    500: ("An engine failed, or an unexpected error (the message carries an incident id found in the server log).",
          "server_error", "internal error (incident 3f2a9c0d41b7); the server log has the details"),
    501: ("The engine cannot do what the request asks (a mask, a parameter it does not use, …).",
          "not_implemented", "engine 'upscaler' does not accept masks"),
    503: ("The engine failed to load, or the server is shutting down.",
          "service_unavailable", "the server is shutting down"),
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description=_ERRORS[status][0],
            generate_examples=False,
            examples=[Example(summary=_ERRORS[status][1], value={
                "id": "2b9a5a3c51d84f0aa1f53b0f3c1e1d2e", "name": _ERRORS[status][1], "message": _ERRORS[status][2]})],
        )
        for status in statuses
    }


GENERATION_RESPONSE = ResponseSpec(
    data_container=ArtifactsResponse,
    generate_examples=False,
    description="The images, as `{\"artifacts\": [{\"base64\", \"seed\", \"finishReason\"}]}`; with "
    "`Accept: image/png` (and samples = 1) the PNG itself, with `Finish-Reason` and `Seed` headers.",
)

_PNG_HEADERS = {
    "Finish-Reason": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING, enum=["SUCCESS", "CONTENT_FILTERED"]),
                                   description="SUCCESS, or CONTENT_FILTERED when the engine's filter replaced it"),
    "Seed": OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=4294967295),
                          description="The seed of the image"),
}


@dataclass
class GenerationOperation(RpcOperation):
    """A generation route: its 200 may also be a PNG, with two headers."""

    def __post_init__(self) -> None:
        super().__post_init__()
        response = (self.responses or {}).get("200")
        if isinstance(response, OpenAPIResponse):
            response.content = {
                **(response.content or {}),
                "image/png": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format="binary")),
            }
            response.headers = {**(response.headers or {}), **_PNG_HEADERS}


@dataclass
class FormOperation(GenerationOperation):
    """A generation route whose body is multipart/form-data.

    The body is decoded by our own parser (RestBody), so the handler declares it as
    JSONBody (a MultipartBody marker makes Litestar parse the form itself instead of
    handing the bytes to the DTO); the documented request body is renamed here.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        body = self.request_body
        if isinstance(body, RequestBody) and body.content and "application/json" in body.content:
            body.content = {"multipart/form-data": body.content["application/json"]}
