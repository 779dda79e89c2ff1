"""Long strings cut out of big bodies before parsing (wire_codec/long_strings.py): every body decodes
to what it decodes to with nothing cut out, and to what the generic walker gives, error or value."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfumato.wire import Request
from sfumato.wire_codec import decode_message
from sfumato.wire_codec import long_strings
from sfumato.wire_codec.long_strings import LONG_STRING_BYTES, MAX_STRINGS, cut_long_strings
from tests.wire.test_big_body import generic, outcome

IMAGE = bytes(range(251)) * (LONG_STRING_BYTES // 251 + 3)
B64 = base64.b64encode(IMAGE).decode()
assert len(B64) >= LONG_STRING_BYTES


def request(binary: str = B64, text: str = "a lighthouse", request_id: str = "r") -> str:
    return json.dumps({
        "engineId": "sd", "requestId": request_id,
        "prompt": [{"text": text}, {"artifact": {"type": "ARTIFACT_IMAGE", "mime": "image/png", "binary": binary}}],
    })


def uncut(data: bytes, monkeypatch: pytest.MonkeyPatch):
    with monkeypatch.context() as patch:
        patch.setattr(long_strings, "LONG_STRING_BYTES", 1 << 62)
        return decode_message(data, Request)


def assert_same_everywhere(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    cut = outcome(lambda: decode_message(data, Request))
    assert cut == outcome(lambda: uncut(data, monkeypatch))
    assert cut == outcome(lambda: generic(data, monkeypatch))


LONG_TEXT = "x" * LONG_STRING_BYTES
CASES = {
    "an image": request().encode(),
    "two images": json.dumps({"prompt": [{"artifact": {"binary": B64}}, {"artifact": {"binary": B64[::-1]}}]}).encode(),
    "a long prompt text": request(text=LONG_TEXT).encode(),
    "a long request id next to an image": request(request_id=LONG_TEXT).encode(),
    "escaped quotes and backslashes at the end of a long text": request(text=LONG_TEXT + '"\\"\\').encode(),
    "a string ending in an escaped backslash": request(text=LONG_TEXT + "\\").encode(),
    "escaped slashes in the image": request().replace("/", "\\/").encode(),
    "a line feed escape in the image": request(B64[:1000] + "\n" + B64[1000:]).encode(),
    "a raw control character in the image": request().replace(B64[:10], B64[:5] + "\x01" + B64[6:10]).encode(),
    "invalid UTF-8 in the image": request().encode().replace(B64[:4].encode(), b"\xff\xfe\xfd\xfc", 1),
    "an unterminated image": request().encode()[: len(request()) // 2],
    "a client-sent placeholder": request(binary='\u0000' + "0" * 16 + "-0", text=LONG_TEXT).encode(),
    "a long key": json.dumps({"engineId": "sd", LONG_TEXT: 1}).encode(),
    # snake_case names, which msgspec's typed decoder does not take.
    "snake_case names with an image": request().replace('"engineId"', '"engine_id"').encode(),
    "snake_case names with two images": json.dumps({"request_id": "r", "prompt": [
        {"artifact": {"binary": B64}}, {"artifact": {"binary": B64[::-1]}}]}).encode(),
    "snake_case names with a long text": request(text=LONG_TEXT).replace('"engineId"', '"engine_id"').encode(),
    "snake_case names, a long string where a number goes": json.dumps({
        "engine_id": "sd", "image": {"height": LONG_TEXT}, "prompt": [{"artifact": {"binary": B64}}]}).encode(),
    "snake_case names, escaped slashes in the image": request().replace('"engineId"', '"engine_id"').replace(
        "/", "\\/").encode(),
    "snake_case names, invalid UTF-8 in the image": request().replace('"engineId"', '"engine_id"').encode().replace(
        B64[:4].encode(), b"\xff\xfe\xfd\xfc", 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cutting_long_strings_changes_no_outcome(name, monkeypatch):
    assert_same_everywhere(CASES[name], monkeypatch)


@pytest.mark.parametrize("name", ["two images", "snake_case names with two images"])
def test_images_come_back_whole_from_the_cut_body(name):
    decoded = decode_message(CASES[name], Request)
    assert [prompt.artifact.binary for prompt in decoded.prompt] == [IMAGE, base64.b64decode(B64[::-1])]


def test_the_cut_body_is_small_and_its_placeholders_differ_per_body():
    data = request().encode()
    first, second = cut_long_strings(data), cut_long_strings(data)
    assert first is not None and second is not None
    assert len(first.body) < 300
    [(placeholder, original)] = first.strings.items()
    assert bytes(original) == f'"{B64}"'.encode()
    assert placeholder in first.body and placeholder not in second.strings


def test_bodies_without_long_strings_are_not_copied():
    assert cut_long_strings(request(binary="AAAA").encode()) is None
    assert cut_long_strings(b'{"text": "' + b"x" * LONG_STRING_BYTES) is None  # never ends


_PIECES = st.sampled_from(['\\"', "\\\\", "\\n", "\\/", "\\u00e9", "a", "/", "=", "é", '"'])


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(["binary", "text", "request_id"]), head=st.lists(_PIECES, max_size=6),
       tail=st.lists(_PIECES, max_size=6), snake_case=st.booleans())
def test_escapes_around_long_strings_change_no_outcome(field, head, tail, snake_case):
    # The JSON text is assembled by hand, so some bodies are invalid: they must fail alike.
    value = "".join(head) + B64 + "".join(tail)
    template = request(**{field: "@"}).encode()
    if snake_case:
        template = template.replace(b'"engineId"', b'"engine_id"')
    data = template.replace(b'"@"', b'"' + value.encode() + b'"')
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_same_everywhere(data, monkeypatch)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, lambda data: memoryview(b"xx" + data)[2:]],
                         ids=["bytes", "bytearray", "memoryview", "a memoryview into a larger buffer"])
def test_any_bytes_like_body_is_cut_and_decoded(wrap):
    data = CASES["two images"]
    cut = cut_long_strings(wrap(data))
    assert cut is not None and len(cut.strings) == 2
    decoded = decode_message(wrap(data), Request)
    assert [prompt.artifact.binary for prompt in decoded.prompt] == [IMAGE, base64.b64decode(B64[::-1])]


def test_a_body_of_many_strings_is_left_to_the_parser_whole(monkeypatch):
    # Stepping from string to string is Python: a body of many short strings is not scanned.
    many = json.dumps({"prompt": [{"text": "a"}] * MAX_STRINGS + [{"artifact": {"binary": B64}}]}).encode()
    assert cut_long_strings(many) is None
    assert_same_everywhere(many, monkeypatch)
    few = json.dumps({"prompt": [{"text": "a"}] * (MAX_STRINGS // 2 - 4) + [{"artifact": {"binary": B64}}]}).encode()
    assert cut_long_strings(few) is not None
