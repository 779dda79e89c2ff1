"""The OpenAPI document: schema plugins, error responses and the API-key scheme.

Litestar derives the schema from the Structs in :mod:`sfumato.wire`; the schema
plugins fix the types msgspec alone would describe differently: 64-bit integers (a
digit string or a number), bytes (base64), sampler names (enum names or plugin
names) and ``ImageAdjustment`` (built-in kinds plus plugin-registered kinds as
sibling keys). The rest describes what Litestar cannot see from the handlers: every
error is a google.rpc ``Status`` (:mod:`sfumato.api.errors`), Generate streams NDJSON
lines, and API keys are bearer tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIHeader, OpenAPIResponse, OpenAPIType, Operation, Schema, SecurityScheme
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from sfumato.errors import Code
from sfumato.wire import (
    Base64Bytes,
    BUILTIN_ADJUSTMENTS,
    I64,
    SAMPLER_NAME,
    U64,
    Answer,
    DiffusionSampler,
    ImageAdjustment,
)
from sfumato.wire_codec.schema import plan_for

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Reference


class Int64SchemaPlugin(OpenAPISchemaPlugin):
    """``U64``/``I64``: proto3 JSON prints them as strings and reads strings or numbers."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation in (U64, I64)

    def to_openapi_schema(self, field_definition: FieldDefinition,
                          schema_creator: SchemaCreator) -> Schema:
        signed = field_definition.annotation is I64
        return Schema(
            one_of=[
                Schema(type=OpenAPIType.STRING, pattern=r"^-?[0-9]+$" if signed else r"^[0-9]+$"),
                Schema(type=OpenAPIType.INTEGER, minimum=None if signed else 0),
            ],
            format="int64" if signed else "uint64",
            description="64-bit integer: a decimal string (as printed) or a JSON number",
        )


class Base64BytesSchemaPlugin(OpenAPISchemaPlugin):
    """``bytes``: base64 (standard or URL-safe, padding optional on input)."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation in (bytes, Base64Bytes)

    def to_openapi_schema(self, field_definition: FieldDefinition,
                          schema_creator: SchemaCreator) -> Schema:
        return Schema(type=OpenAPIType.STRING, format="byte", content_encoding="base64")


class SamplerNameSchemaPlugin(OpenAPISchemaPlugin):
    """``transform.diffusion``: a DiffusionSampler name, or a name a plugin registered."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return SAMPLER_NAME in field_definition.metadata

    def to_openapi_schema(self, field_definition: FieldDefinition,
                          schema_creator: SchemaCreator) -> Schema:
        return Schema(
            type=OpenAPIType.STRING,
            description="DiffusionSampler name (or its number on input); engines may add "
                        "samplers under new names: see ListEngines supportedSamplers",
            examples=[member.value for member in DiffusionSampler],
        )


class ImageAdjustmentSchemaPlugin(OpenAPISchemaPlugin):
    """``ImageAdjustment``: one key per kind, built-in or plugin-registered (oneof)."""

    def __init__(self, extra_kinds: Mapping[str, type] | None = None) -> None:
        self.extra_kinds = dict(extra_kinds or {})

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation is ImageAdjustment

    def to_openapi_schema(self, field_definition: FieldDefinition,
                          schema_creator: SchemaCreator) -> Schema:
        plan = plan_for(ImageAdjustment)
        properties: dict[str, Schema | Reference] = {}
        for field_plan in plan.fields:
            if field_plan.attr in BUILTIN_ADJUSTMENTS:
                properties[field_plan.json_name] = _struct_schema(field_plan.target, schema_creator)
        for name, params_type in sorted(self.extra_kinds.items()):
            properties[name] = _struct_schema(params_type, schema_creator)
        return Schema(
            type=OpenAPIType.OBJECT,
            title="ImageAdjustment",
            properties=properties,
            additional_properties=False,
            max_properties=1,
            description="Exactly one adjustment kind (oneof adjustment).",
        )


def _struct_schema(struct_type: type, schema_creator: SchemaCreator) -> Any:
    return schema_creator.for_field_definition(FieldDefinition.from_annotation(struct_type))


def openapi_plugins(adjustments: Mapping[str, type] | None = None) -> list[OpenAPISchemaPlugin]:
    """The schema plugins to pass to ``Litestar(plugins=...)``.

    ``adjustments`` maps plugin-registered adjustment kind names to their params
    Struct types, so they appear in the ``ImageAdjustment`` schema.
    """
    return [
        Int64SchemaPlugin(),
        Base64BytesSchemaPlugin(),
        SamplerNameSchemaPlugin(),
        ImageAdjustmentSchemaPlugin(adjustments),
    ]


# ---- what the handlers' signatures do not tell Litestar ----

NDJSON = "application/x-ndjson"

BEARER_AUTH = "bearerAuth"
SECURITY_SCHEMES = {
    BEARER_AUTH: SecurityScheme(
        type="http",
        scheme="bearer",
        description="An API key from `server.api_keys`, sent as `Authorization: Bearer <key>`. "
        "Required only when the server has keys configured; `/healthz` and `/readyz` never need one.",
    )
}
API_KEY_REQUIRED = [{BEARER_AUTH: []}]

_CODE_NAMES = ", ".join(f"{code.value} {code.name}" for code in Code)


class Status(msgspec.Struct, kw_only=True):
    """google.rpc.Status: the body of every error response, and of a Generate stream's final error line."""

    code: Annotated[int, msgspec.Meta(ge=0, le=16, description=f"google.rpc.Code: {_CODE_NAMES}")]
    message: Annotated[str, msgspec.Meta(description="What went wrong, naming the JSON path of the problem")]
    details: Annotated[list[dict[str, Any]], msgspec.Meta(description="Always empty from sfumato")]


class GenerateResultLine(msgspec.Struct):
    """One line of a Generate stream: an image is ready."""

    result: Answer


class GenerateErrorLine(msgspec.Struct):
    """The last line of a Generate stream that failed after its first image."""

    error: Status


GENERATE_STREAM = ResponseSpec(
    data_container=GenerateResultLine | GenerateErrorLine,
    media_type=NDJSON,
    generate_examples=False,
    description='An NDJSON stream; the schema is that of each line: `{"result": Answer}` as each image is ready, '
    'and, if the job fails after its first image, one final `{"error": Status}`.',
)

# Per HTTP status: the google.rpc codes behind it, and an example body.
_ERRORS: dict[int, tuple[str, Code, str]] = {
    400: ("INVALID_ARGUMENT: the request is malformed or out of bounds (or has two Authorization headers); "
          "the message names the field and what is allowed.",
          Code.INVALID_ARGUMENT, "image.width: 100 is not a multiple of 8; try 96"),
    401: ("UNAUTHENTICATED: the server has API keys and the request carries no valid `Authorization: Bearer <key>`.",
          Code.UNAUTHENTICATED, "missing Authorization header: send 'Authorization: Bearer <key>'"),
    404: ("NOT_FOUND: the engine or async handle the request names does not exist (or has expired).",
          Code.NOT_FOUND, "engineId: no engine 'nope'; available engines: test-pattern"),
    408: ("DEADLINE_EXCEEDED: the request body did not arrive within server.body_timeout_seconds.",
          Code.DEADLINE_EXCEEDED, "the request body did not arrive within 60 s (server.body_timeout_seconds)"),
    429: ("RESOURCE_EXHAUSTED: a queue, quota or rate limit is full, or an engine ran out of memory; "
          "retry after `Retry-After` seconds.",
          Code.RESOURCE_EXHAUSTED, "the queue is full (64 jobs waiting, jobs.queue_size); retry later"),
    500: ("INTERNAL: an engine failed, or an unexpected error (the message carries an incident id found in the server log).",
          Code.INTERNAL, "internal error (incident 3f2a9c0d41b7); the server log has the details"),
    501: ("UNIMPLEMENTED: the request asks for something this server or engine does not do.",
          Code.UNIMPLEMENTED, "image.hires: engine 'test-pattern' has no hires fix"),
    503: ("UNAVAILABLE: the engine failed to load, or the server is shutting down or at its connection limit.",
          Code.UNAVAILABLE, "the server is shutting down"),
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """``responses=`` for a route: each status with a ``Status`` body (replacing Litestar's own 400)."""
    return {
        status: ResponseSpec(
            data_container=Status,
            description=_ERRORS[status][0],
            generate_examples=False,
            examples=[Example(summary=_ERRORS[status][1].name,
                              value={"code": int(_ERRORS[status][1]), "message": _ERRORS[status][2], "details": []})],
        )
        for status in statuses
    }


_ERROR_HEADERS = {
    "401": {"WWW-Authenticate": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING, const='Bearer realm="sfumato"'),
                                              description="The scheme to authenticate with")},
    "429": {"Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
                                         description="Seconds to wait before retrying", required=True)},
}


@dataclass
class RpcOperation(Operation):
    """An operation whose 401 and 429 responses document their headers (``ResponseSpec`` has no headers)."""

    def __post_init__(self) -> None:
        for status, headers in _ERROR_HEADERS.items():
            response = (self.responses or {}).get(status)
            if isinstance(response, OpenAPIResponse):
                response.headers = {**(response.headers or {}), **headers}
