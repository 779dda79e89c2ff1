"""proto3-JSON decoding into the wire Structs.

Fast path: msgspec decodes small canonical input (camelCase names, enum names)
straight into the Structs. Anything else, and every body big enough to carry an
image, goes through a walker over the generic JSON value that applies every
proto3-JSON input rule, names the JSON path of the first problem, and decodes
base64 with pybase64 (SIMD). A big body's long strings are cut out before it is
parsed (``long_strings``): an image's base64 is never copied into a ``str``.
"""

from __future__ import annotations

import difflib
import enum
import functools
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from sfumato.wire import I64, PROTO_NUMBERS, U64, AdjustmentExtras, Base64Bytes, DiffusionSampler
from sfumato.wire_codec.long_strings import CutBody, InvalidCutString, bytes_value, cut_long_strings
from sfumato.wire_codec.depth import DEFAULT_MAX_DEPTH, cannot_exceed, check_depth, too_deep_error
from sfumato.wire_codec.errors import CLIENT_TEXT_SHOWN, WireError, json_type_name
from sfumato.wire_codec.scalars import (
    ScalarError,
    parse_bool,
    parse_bytes,
    parse_float,
    parse_int,
    parse_string,
)
from sfumato.wire_codec.schema import FieldPlan, Kind, MessagePlan, plan_for

T = TypeVar("T")

DEFAULT_SAMPLERS: Mapping[int, str] = PROTO_NUMBERS[DiffusionSampler]
FAST_PATH_MAX_BYTES = 64 * 1024


def decode_message(
    data: bytes | bytearray | memoryview | str,
    type_: type[T],
    *,
    samplers: Mapping[int, str] | None = None,
    adjustments: Mapping[str, type] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> T:
    """Decode a proto3-JSON body into ``type_`` or raise :class:`WireError`.

    ``samplers`` maps DiffusionSampler numbers to names (default: the enum's) so
    clients may send plugin samplers by number; ``adjustments`` maps extra
    ``ImageAdjustment`` kind names to their params Struct types. An empty body is the
    empty message. Objects and arrays may nest ``max_depth`` levels (the body's own
    object is level 1).
    """
    if not _has_content(data):
        return type_()
    try:
        return _decode(data, type_, samplers, adjustments, max_depth)
    except RecursionError:
        # The explicit depth checks come first; this only catches a limit configured
        # beyond what the interpreter's stack allows.
        raise too_deep_error("", max_depth) from None


def _decode(
    data: bytes | bytearray | memoryview | str,
    type_: type[T],
    samplers: Mapping[int, str] | None,
    adjustments: Mapping[str, type] | None,
    max_depth: int,
) -> T:
    # Big bodies carry images: the walker plus SIMD base64 beats msgspec's typed path there.
    # The typed path does not count levels, so it only takes bodies that cannot nest too deep.
    if len(data) < FAST_PATH_MAX_BYTES and cannot_exceed(data, max_depth):
        try:
            return _fast_decoder(type_).decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass  # not canonical (or invalid): the walker decides and explains
    samplers = DEFAULT_SAMPLERS if samplers is None else samplers
    if len(data) >= FAST_PATH_MAX_BYTES and not isinstance(data, str):
        cut = cut_long_strings(data)
        if cut is not None:
            decoded = _decode_cut(cut, type_, _Walker(samplers, adjustments or {}, max_depth, cut))
            if decoded is not None:
                return decoded
    walker = _Walker(samplers, adjustments or {}, max_depth)
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as error:
        raise WireError("", f"the body is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise WireError("", f"expected a JSON object ({type_.__name__}), got {json_type_name(raw)}")
    return walker.message(raw, plan_for(type_), "", 1)


def _decode_cut(cut: CutBody, type_: type[T], walker: _Walker) -> T | None:
    """The walk over a body whose long strings were cut out; None unless every long string was
    a bytes field's and the body decodes without error (else the whole body is walked as it
    is, so errors name what the client sent, not a placeholder)."""
    try:
        raw = msgspec.json.decode(cut.body)
        if not isinstance(raw, dict):
            return None
        decoded = walker.message(raw, plan_for(type_), "", 1)
    except (msgspec.DecodeError, WireError, InvalidCutString):
        return None
    return decoded if walker.restored == len(cut.strings) else None


def _has_content(data: bytes | bytearray | memoryview | str) -> bool:
    if isinstance(data, str):
        return bool(data.strip())
    view = memoryview(data)
    # Only a short body can be all whitespace worth stripping.
    return len(view) > 64 or bool(bytes(view).strip())


@functools.cache
def _fast_decoder(type_: type) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(type_, dec_hook=_fast_hook)


def _fast_hook(type_: type, value: Any) -> Any:
    if type_ is U64:
        return U64(parse_int(value, 0, 2**64 - 1, "uint64"))
    if type_ is I64:
        return I64(parse_int(value, -(2**63), 2**63 - 1, "int64"))
    if type_ is Base64Bytes:  # msgspec checks the hook's result type
        return Base64Bytes(parse_bytes(value))
    # AdjustmentExtras has no JSON key of its own; anything else is the walker's job.
    raise TypeError(f"{type_.__name__} is decoded by the lenient path")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Walker:
    def __init__(self, samplers: Mapping[int, str], adjustments: Mapping[str, type], max_depth: int,
                 cut: CutBody | None = None) -> None:
        self.samplers = samplers
        self.adjustments = adjustments
        self.max_depth = max_depth
        # Placeholders of the long strings cut out of the body, as JSON decodes them.
        self.cut_texts = {} if cut is None else {msgspec.json.decode(key): value for key, value in cut.strings.items()}
        self.restored = 0

    def message(self, raw: dict[str, Any], plan: MessagePlan, path: str, depth: int) -> Any:
        """``raw`` is the object at nesting level ``depth`` (the body's own object is 1)."""
        if depth > self.max_depth:
            raise too_deep_error(path, self.max_depth)
        values: dict[str, Any] = {}
        spelled: dict[str, str] = {}
        extras = AdjustmentExtras()
        for key, value in raw.items():
            field_path = _join(path, key)
            field_plan = plan.by_key.get(key)
            if field_plan is None:
                if plan.extras_field is not None and key in self.adjustments:
                    if value is not None:
                        if not isinstance(value, dict):
                            raise WireError(field_path, f"expected an object, got {json_type_name(value)}")
                        extras[key] = self.message(value, plan_for(self.adjustments[key]), field_path, depth + 1)
                    continue
                raise WireError(_join(path, _path_key(key)), self._unknown_field(key, plan))
            if field_plan.attr in spelled:
                raise WireError(field_path, f'field given twice, as "{spelled[field_plan.attr]}" and "{key}"')
            spelled[field_plan.attr] = key
            if value is None:
                continue  # null = unset
            values[field_plan.attr] = self.field(value, field_plan, field_path, depth + 1)
        if extras:
            values[plan.extras_field.attr] = extras  # type: ignore[union-attr]
        self._check_oneofs(plan, values, spelled, extras, path)
        try:
            return plan.type_(**values)
        except (TypeError, ValueError) as error:
            raise WireError(path, str(error)) from None

    def _unknown_field(self, key: str, plan: MessagePlan) -> str:
        known = list(plan.by_key) + list(self.adjustments if plan.extras_field else ())
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
        canonical = []
        for name in close:
            shown = plan.by_key[name].json_name if name in plan.by_key else name
            if shown not in canonical:
                canonical.append(shown)
        message = f"unknown field {_quoted(key)} in {plan.type_.__name__}"
        if canonical:
            return message + "; did you mean " + " or ".join(f'"{name}"' for name in canonical) + "?"
        names = plan.names_for_hints + sorted(self.adjustments if plan.extras_field else ())
        return message + "; known fields: " + (", ".join(names) if names else "none")

    @staticmethod
    def _check_oneofs(plan: MessagePlan, values: dict[str, Any], spelled: dict[str, str],
                      extras: AdjustmentExtras, path: str) -> None:
        for group, members in plan.oneof_groups.items():
            present = [spelled[name] for name in members if name in values and name in spelled]
            present += list(extras) if plan.extras_field and plan.extras_field.attr in members else []
            if len(present) > 1:
                both = " and ".join(f'"{name}"' for name in present)
                raise WireError(path, f"{both} are members of oneof {group}: set only one")

    def field(self, value: Any, plan: FieldPlan, path: str, depth: int) -> Any:
        if not plan.repeated:
            return self.single(value, plan, path, depth)
        if not isinstance(value, list):
            raise WireError(path, f"expected an array, got {json_type_name(value)}")
        if depth > self.max_depth:
            raise too_deep_error(path, self.max_depth)
        items = []
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            if item is None:
                raise WireError(item_path, "null is not allowed inside an array")
            items.append(self.single(item, plan, item_path, depth + 1))
        return items

    def single(self, value: Any, plan: FieldPlan, path: str, depth: int) -> Any:
        kind = plan.kind
        if kind in _FREE_FORM:  # any JSON below: count its levels without recursing
            check_depth(value, self.max_depth - depth + 1, path, self.max_depth)
        try:
            if kind is Kind.MESSAGE:
                if not isinstance(value, dict):
                    raise ScalarError(f"expected an object ({plan.target.__name__}), "
                                      f"got {json_type_name(value)}")
                return self.message(value, plan_for(plan.target), path, depth)
            if kind is Kind.INT:
                number = parse_int(value, *plan.int_range, plan.type_label())
                return plan.int_type(number) if plan.int_as_string else number
            if kind is Kind.FLOAT:
                return parse_float(value, plan.float32)
            if kind is Kind.STRING:
                return parse_string(value)
            if kind is Kind.BOOL:
                return parse_bool(value)
            if kind is Kind.BYTES:
                if self.cut_texts and isinstance(value, str) and value in self.cut_texts:
                    self.restored += 1
                    value = bytes_value(self.cut_texts[value])
                    if isinstance(value, bytes):
                        return value
                return parse_bytes(value)
            if kind is Kind.ENUM:
                return _parse_enum(value, plan.target)
            if kind is Kind.SAMPLER:
                return self._sampler(value)
            if kind is Kind.JSON_OBJECT:
                if not isinstance(value, dict):
                    raise ScalarError(f"expected an object, got {json_type_name(value)}")
                return value
            if kind is Kind.OTHER:
                return msgspec.convert(value, plan.target, strict=False)
            return value
        except ScalarError as error:
            raise WireError(path, str(error)) from None
        except msgspec.ValidationError as error:
            raise WireError(path, str(error)) from None

    def _sampler(self, value: Any) -> str:
        if isinstance(value, str):
            if not value:
                raise ScalarError("expected a sampler name, got an empty string")
            # Names are checked against the engine's samplers later, with the engine's list.
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if value in self.samplers:
                return self.samplers[value]
            known = ", ".join(f"{number} ({name})" for number, name in sorted(self.samplers.items()))
            raise ScalarError(f"unknown sampler number {value}; known numbers: {known}")
        raise ScalarError(f"expected a sampler name or number, got {json_type_name(value)}")


_FREE_FORM = frozenset({Kind.JSON_OBJECT, Kind.ANY, Kind.OTHER})


def _parse_enum(value: Any, enum_type: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, str):
        try:
            return enum_type(value)
        except ValueError:
            names = [str(member.value) for member in enum_type]
            close = difflib.get_close_matches(value, names, n=2, cutoff=0.6)
            hint = ("; did you mean " + " or ".join(f'"{n}"' for n in close) + "?") if close \
                else "; allowed: " + ", ".join(names)
            raise ScalarError(f"unknown {enum_type.__name__} name {_quoted(value)}{hint}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        numbers = PROTO_NUMBERS.get(enum_type)  # type: ignore[call-overload]
        if numbers is not None and value in numbers:
            return enum_type(numbers[value])
        allowed = ", ".join(f"{n} ({name})" for n, name in sorted((numbers or {}).items()))
        raise ScalarError(f"unknown {enum_type.__name__} number {value}; allowed: {allowed or 'names only'}")
    raise ScalarError(f"expected a {enum_type.__name__} name or number, got {json_type_name(value)}")


def _quoted(text: str) -> str:
    """A client's key or name in double quotes for a message: escaped, and cut when long."""
    shown = msgspec.json.encode(text[:CLIENT_TEXT_SHOWN]).decode()
    return shown if len(text) <= CLIENT_TEXT_SHOWN else f'{shown[:-1]}…" ({len(text)} characters)'


def _path_key(key: str) -> str:
    """An unknown key as it appears in an error path: as sent, unless long or unprintable."""
    return key if len(key) <= CLIENT_TEXT_SHOWN and key.isprintable() else _quoted(key)
