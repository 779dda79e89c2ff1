"""Long JSON strings cut out of a body before it is parsed.

msgspec checks every byte of a string it skips (UTF-8, escapes, control characters):
about 1.7 ms for the 5.6 MB base64 string of a 4 MiB image. Finding the string's
closing quote with ``bytes.find`` (memchr) takes a tenth of that. The strings found
here are replaced by short placeholders for the parser; the decoder puts each one
back where a bytes field holds its placeholder and checks its content there
(``bytes_value``: base64 decoded straight from the body's buffer, never copied into a
``str``). A placeholder anywhere else means the long string was not image data: the
decoder then parses the whole body as it is.
"""

from __future__ import annotations

import binascii
import os
from dataclasses import dataclass
from typing import Any

import msgspec
import pybase64

# Shorter strings stay in the body: cutting them out would save less than it costs.
LONG_STRING_BYTES = 64 * 1024
# The scan steps from string to string in Python: a body of more strings than this (not an
# image request) is left to the parser whole, so the scan costs at most a few milliseconds.
MAX_STRINGS = 4096

_QUOTE = ord('"')
_BACKSLASH = ord("\\")


class InvalidCutString(Exception):
    """A string cut out of the body is not a valid JSON string."""


@dataclass
class CutBody:
    """The body with its long strings replaced; ``strings`` maps each placeholder (its JSON text,
    quotes included) to the original string's JSON text."""

    body: bytes
    strings: dict[bytes, memoryview]


def cut_long_strings(data: bytes | bytearray | memoryview) -> CutBody | None:
    """``data`` with every string of ``LONG_STRING_BYTES`` or more replaced, or None when it has
    none, has ``MAX_STRINGS`` strings or more, or a string never ends (the parser reports that
    on the original body)."""
    view = memoryview(data).cast("B")
    source = view.obj if isinstance(view.obj, (bytes, bytearray)) and len(view) == len(view.obj) else bytes(view)
    find = source.find
    # Unguessable per body, and not base64: a client cannot send a placeholder that matches.
    nonce = os.urandom(8).hex()
    pieces: list[bytes | memoryview] = []
    strings: dict[bytes, memoryview] = {}
    copied_up_to = position = 0
    for _ in range(MAX_STRINGS):
        start = find(b'"', position)
        if start < 0:
            break
        end = _closing_quote(source, start)
        if end < 0:
            return None
        if end - start - 1 >= LONG_STRING_BYTES:
            placeholder = f'"\\u0000{nonce}-{len(strings)}"'.encode()
            strings[placeholder] = view[start:end + 1]
            pieces += [view[copied_up_to:start], placeholder]
            copied_up_to = end + 1
        position = end + 1
    else:
        return None  # MAX_STRINGS and more
    if not strings:
        return None
    pieces.append(view[copied_up_to:])
    return CutBody(b"".join(pieces), strings)


def _closing_quote(source: bytes | bytearray, start: int) -> int:
    """The index of the quote that ends the string opening at ``start``; -1 if there is none."""
    end = source.find(b'"', start + 1)
    while end >= 0:
        backslashes = 0
        while source[end - 1 - backslashes] == _BACKSLASH:
            backslashes += 1
        if backslashes % 2 == 0:  # not escaped
            return end
        end = source.find(b'"', end + 1)
    return -1


def bytes_value(string: memoryview) -> Any:
    """A cut-out string (its JSON text, quotes included) in a bytes field: the decoded bytes when it
    is one padded standard base64 string (the common case: one SIMD pass over the body's buffer),
    else the JSON string's value for the generic rules to decode or explain."""
    if len(string) >= 2 and string[0] == _QUOTE and string[-1] == _QUOTE and (len(string) - 2) % 4 == 0:
        try:
            return pybase64.b64decode(string[1:-1], validate=True)
        except (binascii.Error, ValueError):
            pass  # escapes, URL-safe alphabet, line breaks…
    try:
        return msgspec.json.decode(string)
    except msgspec.DecodeError:  # the parser never saw this string: it may be invalid
        raise InvalidCutString from None
