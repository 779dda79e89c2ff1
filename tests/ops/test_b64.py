"""base64 against Python's base64 module."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfumato import _ops

settings.register_profile("b64", derandomize=True, deadline=None, max_examples=200)


@settings(settings.get_profile("b64"))
@given(st.binary(max_size=300))
def test_round_trips_match_python(data):
    enc = _ops.b64encode(data)
    assert enc == base64.b64encode(data)
    assert _ops.b64decode(enc) == data
    assert _ops.b64decode(enc.decode()) == data
    url = base64.urlsafe_b64encode(data)
    assert _ops.b64decode(url) == data
    assert _ops.b64decode(url.rstrip(b"=")) == data
    assert _ops.b64decode(enc.rstrip(b"="), urlsafe_ok=False) == data
    if url != enc:
        with pytest.raises(ValueError):
            _ops.b64decode(url, urlsafe_ok=False)


def test_large_input_round_trip():
    data = bytes(range(256)) * (5 * 4096 + 1)
    enc = _ops.b64encode(data)
    assert enc == base64.b64encode(data)
    assert _ops.b64decode(enc) == data
    assert _ops.b64decode(base64.urlsafe_b64encode(data)) == data


@pytest.mark.parametrize(
    "bad",
    [b"Z", b"Zm9v!", b"Zm9v Zg==", b"Zm9v\nZg==", b"Zg=", b"Z===", b"=Zg=", b"Zm+v_g==", b"Zg==Zg==", "Zg\u00e9="],
)
def test_invalid_input_raises_value_error(bad):
    with pytest.raises(ValueError):
        _ops.b64decode(bad)
    if bad in (b"Z", b"Zm9v!", b"Zg="):
        # Python's validating decoder refuses these too.
        with pytest.raises(binascii.Error):
            base64.b64decode(bad, validate=True)


def test_types_and_empty():
    assert _ops.b64encode(b"") == b""
    assert _ops.b64decode(b"") == b""
    assert _ops.b64decode("") == b""
    with pytest.raises(TypeError):
        _ops.b64decode(123)  # type: ignore[arg-type]
