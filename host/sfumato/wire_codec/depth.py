"""How deeply a JSON body may nest objects and arrays (``limits.max_json_depth``).

Decoders recurse once per level; without a limit a body of ``[[[[…`` exhausts the
recursion limit and becomes a server error instead of a client one. The checks here
never recurse themselves.
"""

from __future__ import annotations

from typing import Any

from sfumato.wire_codec.errors import WireError

# Deepest legitimate Request: image.parameters[].guidance.instances[].prompt.artifact
# .adjustments[].rescale.algorithmHint[] is about 12 levels; plugins' free-form extras add a few.
DEFAULT_MAX_DEPTH = 64


def too_deep(max_depth: int) -> str:
    return (
        f"the body nests objects and arrays more than {max_depth} levels deep; "
        "that is the limit (limits.max_json_depth)"
    )


SHOWN_PATH_CHARS = 120


def too_deep_error(path: str, max_depth: int) -> WireError:
    # A path 64 levels deep is mostly repetition: its end says where.
    shown = path if len(path) <= SHOWN_PATH_CHARS else "…" + path[-SHOWN_PATH_CHARS:]
    return WireError(shown, too_deep(max_depth))


def cannot_exceed(data: bytes | bytearray | memoryview | str, max_depth: int) -> bool:
    """True when ``data`` holds no more opening brackets than ``max_depth``, so it cannot nest deeper.

    Two C-speed counts; brackets inside strings only make the answer more cautious.
    """
    if isinstance(data, memoryview):
        data = data.tobytes()
    if isinstance(data, str):
        return data.count("[") + data.count("{") <= max_depth
    return data.count(b"[") + data.count(b"{") <= max_depth


def check_depth(value: Any, levels_left: int, path: str, max_depth: int) -> None:
    """Raise :class:`WireError` if the decoded JSON ``value`` nests more than ``levels_left`` levels.

    ``value`` itself is one level when it is an object or an array.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level > levels_left:
            raise too_deep_error(path, max_depth)
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
