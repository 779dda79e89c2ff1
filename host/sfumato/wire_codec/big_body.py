"""Big bodies in one typed msgspec pass that leaves base64 fields as raw JSON slices.

A body carrying a 4 MiB image is mostly one base64 string. Decoded as generic JSON,
that string is first copied into a Python ``str`` and then base64-decoded; here a
"shadow" Struct per message (canonical camelCase keys, unknown keys refused) gives
bytes fields as ``msgspec.Raw`` slices of the body, which pybase64 decodes straight
from the buffer. Every other field is plain JSON (``Any``), so the walker still
applies all proto3-JSON rules to it. Anything the shadow refuses (snake_case names,
plugin adjustment keys, nulls inside arrays, invalid JSON) returns None: the caller
falls back to the generic decode, which gives the same result or the same error.
Long strings are cut out before msgspec parses the body (``long_strings``) and put back
into the bytes fields that held them.
"""

from __future__ import annotations

import binascii
import functools
from typing import Any

import msgspec
import pybase64

from sfumato.wire_codec.long_strings import cut_long_strings
from sfumato.wire_codec.schema import Kind, plan_for

_NULL = b"null"
_QUOTE = ord('"')


def decode_big_body(data: bytes | bytearray | memoryview | str, message_type: type) -> dict[str, Any] | None:
    """The body as the walker's generic input (bytes fields as ``msgspec.Raw``), or None."""
    if isinstance(data, str):
        return None  # a str body has been decoded from bytes already: nothing to save
    cut = cut_long_strings(data)
    try:
        shadow = _shadow_decoder(message_type).decode(data if cut is None else cut.body)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    if cut is None:
        return _plain(shadow, {}, set())
    restored: set[bytes] = set()
    plain = _plain(shadow, cut.strings, restored)
    # A long string outside a bytes field (a huge prompt…): the generic decode takes the body.
    return plain if len(restored) == len(cut.strings) else None


class InvalidCutString(Exception):
    """A long string cut out of the body (``long_strings``) is not a valid JSON string."""


@functools.cache
def _shadow_decoder(message_type: type) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(_shadow_type(message_type, frozenset()))


def _shadow_type(message_type: type, outer: frozenset[type]) -> type:
    """A Struct mirroring ``message_type``'s JSON shape; a message nested in itself stays plain JSON."""
    outer = outer | {message_type}
    fields: list[tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    for plan in plan_for(message_type).fields:
        if plan.kind is Kind.EXTRAS:
            continue  # plugin adjustment keys are unknown to the shadow: the generic path takes them
        if plan.kind is Kind.MESSAGE and plan.target not in outer:
            inner = _shadow_type(plan.target, outer)
            hint: Any = (list[inner] if plan.repeated else inner) | None | msgspec.UnsetType
            fields.append((plan.attr, hint, msgspec.UNSET))
        elif plan.kind is Kind.BYTES and not plan.repeated:
            fields.append((plan.attr, msgspec.Raw, msgspec.Raw()))  # an empty Raw: the key was absent
        else:
            fields.append((plan.attr, Any, msgspec.UNSET))
        rename[plan.attr] = plan.json_name
    return msgspec.defstruct(f"Shadow{message_type.__name__}", fields, rename=rename, forbid_unknown_fields=True)


def _plain(shadow: msgspec.Struct, cut_strings: dict[bytes, memoryview], restored: set[bytes]) -> dict[str, Any]:
    """The shadow as dicts; a bytes field holding a placeholder gets its cut-out string back."""
    out: dict[str, Any] = {}
    for attr, key in zip(shadow.__struct_fields__, shadow.__struct_encode_fields__, strict=True):
        value = getattr(shadow, attr)
        if value is msgspec.UNSET:
            continue
        if isinstance(value, msgspec.Raw):
            if not len(value):
                continue
            if len(value) == len(_NULL) and bytes(value) == _NULL:
                value = None
            elif cut_strings:
                placeholder = bytes(value)
                if placeholder in cut_strings:
                    value = msgspec.Raw(cut_strings[placeholder])
                    restored.add(placeholder)
        elif isinstance(value, msgspec.Struct):
            value = _plain(value, cut_strings, restored)
        elif isinstance(value, list) and value and isinstance(value[0], msgspec.Struct):
            value = [_plain(item, cut_strings, restored) for item in value]
        out[key] = value
    return out


def raw_bytes_value(raw: msgspec.Raw) -> Any:
    """A bytes field's raw JSON: decoded bytes when it is one padded standard base64 string (the
    common case, decoded from the body's buffer in one SIMD pass), else the JSON value itself for
    ``parse_bytes`` to decode or explain."""
    view = memoryview(raw)
    if len(view) >= 2 and view[0] == _QUOTE and view[-1] == _QUOTE and (len(view) - 2) % 4 == 0:
        try:
            return pybase64.b64decode(view[1:-1], validate=True)
        except (binascii.Error, ValueError):
            pass  # escapes, URL-safe alphabet, line breaks…: the generic rules decide
    try:
        return msgspec.json.decode(view)
    except msgspec.DecodeError:  # only a cut-out string can be invalid: msgspec checked the rest
        raise InvalidCutString from None
