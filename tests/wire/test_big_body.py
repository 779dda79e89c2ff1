"""Big bodies (≥ FAST_PATH_MAX_BYTES) are decoded with their long strings cut out (long_strings.py):
every body must decode to exactly what the generic walker gives over the whole body, and fail
with the same error."""

from __future__ import annotations

import base64
import json

import pytest

from sfumato.wire import Request
from sfumato.wire_codec import WireError, decode_message
from sfumato.wire_codec import decode as decode_module
from sfumato.wire_codec.decode import FAST_PATH_MAX_BYTES
from sfumato.wire_codec.long_strings import cut_long_strings

IMAGE = bytes(range(256)) * (FAST_PATH_MAX_BYTES // 256 + 7)  # its base64 is a long string
B64 = base64.b64encode(IMAGE).decode()


def body(binary=B64, **extra) -> dict:
    request = {
        "engineId": "sd",
        "requestId": "big",
        "prompt": [{"text": "a lighthouse", "parameters": {"weight": 0.5}},
                   {"artifact": {"type": "ARTIFACT_IMAGE", "mime": "image/png", "binary": binary},
                    "parameters": {"init": True}}],
        "image": {"height": "512", "width": 512, "seed": [42, "7"], "samples": 2},
    }
    request.update(extra)
    return request


def generic(data: bytes, monkeypatch: pytest.MonkeyPatch):
    """The generic walker over the whole body: no long strings cut out."""
    with monkeypatch.context() as patch:
        patch.setattr(decode_module, "cut_long_strings", lambda data: None)
        return decode_message(data, Request)


def outcome(decode):
    try:
        return decode()
    except WireError as error:
        return ("error", error.path, error.message)


CASES = {
    "canonical": json.dumps(body()),
    "escaped slashes": json.dumps(body()).replace("/", "\\/"),
    "url-safe base64": json.dumps(body(base64.urlsafe_b64encode(IMAGE).decode().rstrip("="))),
    "wrapped base64": json.dumps(body("\n".join(B64[i:i + 76] for i in range(0, len(B64), 76)))),
    "unpadded base64": json.dumps(body(B64.rstrip("=") + "A")),
    "null fields": json.dumps(body(transform=None, image={"height": None, "width": 64, "seed": [1]})),
    "snake_case names": json.dumps(body()).replace('"engineId"', '"engine_id"'),
    "unknown field": json.dumps(body(enginId="x")),
    "bytes as a number": json.dumps(body(12, requestId=B64)),
    "null inside an array": json.dumps(body(prompt=[None, {"text": B64}])),
    "message as a string": json.dumps(body(image="big")),
    "invalid JSON": json.dumps(body())[:-1],
    "binary null": json.dumps(body(None, requestId=B64)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_cut_body_decodes_as_the_whole_body_does(name, monkeypatch):
    data = CASES[name].encode()
    assert len(data) >= FAST_PATH_MAX_BYTES
    assert outcome(lambda: decode_message(data, Request)) == outcome(lambda: generic(data, monkeypatch))


def test_a_canonical_image_body_is_cut_and_keeps_every_byte():
    data = CASES["canonical"].encode()
    cut = cut_long_strings(data)
    assert cut is not None and len(cut.body) < 1000
    decoded = decode_message(data, Request)
    assert decoded.prompt[1].artifact.binary == IMAGE
    assert decoded.image.seed == [42, 7] and decoded.image.height == 512
