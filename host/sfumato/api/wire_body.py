"""Request bodies decoded by the proto3-JSON codec, documented from the wire Structs.

Litestar's own body conversion knows neither snake_case aliases, enum numbers nor
URL-safe base64, so handlers declare ``data`` with ``dto=WireBody[Message]``: the
OpenAPI schema still comes from the Struct, and decoding goes through
:func:`sfumato.wire_codec.decode_message` with the installed plugins' samplers and
adjustments.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

from litestar.dto import AbstractDTO, DTOConfig
from litestar.typing import FieldDefinition

from sfumato.errors import invalid

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.dto.data_structures import DTOFieldDefinition
    from litestar.dto._backend import DTOBackend
    from litestar.openapi.spec import Reference, Schema

T = TypeVar("T")

# curl's -d sends form encoding by default; the body is still JSON, so accept it.
_ACCEPTED = ("application/json", "application/x-www-form-urlencoded", "text/plain")


def check_content_type(content_type: str) -> None:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type and media_type not in _ACCEPTED and not media_type.endswith("+json"):
        raise invalid(f"Content-Type {media_type!r} is not supported; send the message as application/json")


class BytesBody(AbstractDTO[T]):
    """A body decoded from its bytes by the subclass, documented from the Struct it declares."""

    config = DTOConfig()

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: type[DTOBackend] | None = None
    ) -> None:
        return None  # no transfer model: decode_bytes goes straight to the Struct

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} bodies are decoded from bytes")


class WireBody(BytesBody[T]):
    def decode_bytes(self, value: bytes) -> Any:
        check_content_type(self.asgi_connection.headers.get("content-type", ""))
        return self.asgi_connection.app.state.services.decode(value, self.model_type)
