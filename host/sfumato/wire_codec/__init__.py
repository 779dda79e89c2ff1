"""proto3-JSON codec for the wire model in :mod:`sfumato.wire`.

    request = decode_message(body, Request, samplers=..., adjustments=...)
    line = encode_message(answer)

Both raise nothing but :class:`WireError` for bad input.
"""

from sfumato.wire_codec.decode import DEFAULT_SAMPLERS, decode_message
from sfumato.wire_codec.encode import encode_message, to_json_value
from sfumato.wire_codec.errors import WireError

__all__ = ["DEFAULT_SAMPLERS", "WireError", "decode_message", "encode_message", "to_json_value"]
