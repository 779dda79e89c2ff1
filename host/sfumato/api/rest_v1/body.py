"""``RestBody[Options]``: the REST v1 body of a route, decoded by :mod:`sfumato.api.rest_v1.bodies`.

Like :class:`sfumato.api.wire_body.WireBody`, the OpenAPI schema comes from the options
Struct while decoding is ours: JSON for text-to-image, multipart/form-data (with image
parts recognised from their bytes) for the image routes, each error in the REST shape.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sfumato.api.rest_v1.bodies import decode_form, decode_json
from sfumato.api.rest_v1.errors import bad_request
from sfumato.api.rest_v1.shapes import TextToImageOptions
from sfumato.api.wire_body import BytesBody
from sfumato.wire_codec.errors import client_text

T = TypeVar("T")

# curl's -d sends form encoding by default; the body is still JSON, so accept it.
_JSON_TYPES = ("", "application/json", "application/x-www-form-urlencoded", "text/plain")


class RestBody(BytesBody[T]):
    def decode_bytes(self, value: bytes) -> Any:
        connection = self.asgi_connection
        limits = connection.app.state.services.settings.limits
        content_type = connection.headers.get("content-type", "")
        if issubclass(self.model_type, TextToImageOptions):
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type not in _JSON_TYPES and not media_type.endswith("+json"):
                raise bad_request(f"Content-Type {client_text(media_type)}: text-to-image takes a JSON body "
                                  "(application/json); the image-to-image routes take multipart/form-data")
            return decode_json(value, self.model_type, limits.max_json_depth)
        return decode_form(value, content_type, self.model_type, max_prompts=limits.max_prompts,
                           max_depth=limits.max_json_depth)
