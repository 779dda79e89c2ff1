"""OpenAPI schema plugins so ``/schema`` shows the wire model as proto3 JSON.

Litestar derives the schema from the Structs in :mod:`sfumato.wire`; these plugins
fix the types msgspec alone would describe differently: 64-bit integers (a digit
string or a number), bytes (base64), sampler names (enum names or plugin names) and
``ImageAdjustment`` (built-in kinds plus plugin-registered kinds as sibling keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from litestar.openapi.spec import OpenAPIType, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from sfumato.wire import (
    Base64Bytes,
    BUILTIN_ADJUSTMENTS,
    I64,
    SAMPLER_NAME,
    U64,
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
