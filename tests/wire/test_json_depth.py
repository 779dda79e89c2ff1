"""limits.max_json_depth: bodies nesting too deep are a WireError naming the limit, never a RecursionError."""

from __future__ import annotations

import json

import pytest

from sfumato.wire import Request
from sfumato.wire_codec import WireError, decode_message
from sfumato.wire_codec.depth import DEFAULT_MAX_DEPTH, cannot_exceed, check_depth


def nested_extras(levels: int) -> bytes:
    """A Request whose ``extras`` holds ``levels`` nested objects (the body's own object is one more)."""
    return b'{"extras":' + b'{"a":' * levels + b"1" + b"}" * levels + b"}"


@pytest.mark.parametrize("levels", [1_000, 100_000, 2_000_000])
def test_deep_arrays_are_a_wire_error(levels: int) -> None:
    with pytest.raises(WireError) as caught:
        decode_message(b"[" * levels + b"]" * levels, Request)
    assert "limits.max_json_depth" in caught.value.message


@pytest.mark.parametrize("levels", [DEFAULT_MAX_DEPTH, 500, 5_000])
def test_deep_extras_are_refused_at_their_path(levels: int) -> None:
    with pytest.raises(WireError) as caught:
        decode_message(nested_extras(levels), Request)
    assert f"more than {DEFAULT_MAX_DEPTH} levels" in caught.value.message
    assert caught.value.path in ("extras", "")


def test_the_limit_is_exact() -> None:
    # The body is level 1, extras level 2: 63 nested objects inside the body reach level 64.
    request = decode_message(nested_extras(DEFAULT_MAX_DEPTH - 1), Request)
    assert request.extras is not None
    with pytest.raises(WireError):
        decode_message(nested_extras(DEFAULT_MAX_DEPTH), Request)


def test_a_smaller_configured_limit_applies_to_typed_messages() -> None:
    body = json.dumps({"image": {"parameters": [{"sampler": {"cfgScale": 7}}]}}).encode()
    assert decode_message(body, Request, max_depth=5).image.parameters[0].sampler.cfg_scale == 7
    with pytest.raises(WireError) as caught:
        decode_message(body, Request, max_depth=4)
    assert caught.value.path == "image.parameters[0].sampler"


def test_recursive_messages_stop_at_the_limit() -> None:
    inner = '{"cutouts":[' * 200 + "{}" + "]}" * 200
    body = '{"image":{"parameters":[{"guidance":{"instances":[{"cutouts":' + inner + "}]}}]}}"
    with pytest.raises(WireError) as caught:
        decode_message(body.encode(), Request)
    assert caught.value.path.endswith("cutouts") and len(caught.value.path) < 140


def test_a_limit_beyond_the_interpreter_stack_is_still_a_wire_error() -> None:
    with pytest.raises(WireError) as caught:
        decode_message(nested_extras(50_000), Request, max_depth=1_000_000)
    assert "1000000 levels" in caught.value.message


def test_cannot_exceed_counts_brackets_in_any_buffer() -> None:
    assert cannot_exceed(b"{[]}", 2) and not cannot_exceed(b"{[[]]}", 2)
    assert cannot_exceed(memoryview(b"{}"), 1) and cannot_exceed("{}", 1)


def test_check_depth_counts_levels_without_recursion() -> None:
    value: list = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(WireError):
        check_depth(value, 64, "x", 64)
    check_depth({"a": [1, {"b": []}]}, 4, "x", 64)  # object, array, object, array
    with pytest.raises(WireError):
        check_depth({"a": [1, {"b": []}]}, 3, "x", 64)
