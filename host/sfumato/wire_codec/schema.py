"""Per-message field plans: how each Struct field maps to proto3 JSON.

Plans are built once per Struct type from its type hints, so the decoder and the
encoder handle any msgspec Struct, including the parameter types of plugin
adjustments, with the same rules.
"""

from __future__ import annotations

import enum
import functools
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import msgspec

from sfumato.wire import I64, SAMPLER_NAME, U64, AdjustmentExtras, Base64Bytes

INT64_RANGE = (-(2**63), 2**63 - 1)


class Kind(enum.Enum):
    MESSAGE = "message"
    ENUM = "enum"
    SAMPLER = "sampler"  # a DiffusionSampler held by name; numbers go through a table
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING = "string"
    BYTES = "bytes"
    JSON_OBJECT = "object"  # google.protobuf.Struct: any JSON object
    EXTRAS = "extras"  # plugin adjustment kinds, inlined as sibling keys
    ANY = "any"
    OTHER = "other"  # a type only msgspec knows; converted with msgspec.convert


@dataclass(frozen=True, slots=True)
class FieldPlan:
    attr: str
    json_name: str
    kind: Kind
    repeated: bool
    optional: bool
    default: Any
    target: Any = None  # the Struct, Enum or other type for MESSAGE / ENUM / OTHER
    int_range: tuple[int, int] = INT64_RANGE
    int_type: type = int  # U64 / I64 for 64-bit fields, printed as strings
    float32: bool = False

    @property
    def int_as_string(self) -> bool:
        return self.int_type is not int

    def type_label(self) -> str:
        """How the field's type is named in error messages."""
        if self.kind is Kind.INT:
            low, high = self.int_range
            bits = 64 if self.int_as_string else (32 if high < 2**32 else 64)
            return f"{'an unsigned' if low == 0 else 'a signed'} {bits}-bit integer"
        return self.kind.value


@dataclass(slots=True)
class MessagePlan:
    type_: type
    fields: tuple[FieldPlan, ...]
    by_key: dict[str, FieldPlan]
    oneof_groups: dict[str, tuple[str, ...]]
    emit_unpopulated: bool
    extras_field: FieldPlan | None
    names_for_hints: list[str] = field(default_factory=list)


@functools.cache
def plan_for(struct_type: type) -> MessagePlan:
    hints = typing.get_type_hints(struct_type, include_extras=True)
    plans: list[FieldPlan] = []
    by_key: dict[str, FieldPlan] = {}
    for info in msgspec.structs.fields(struct_type):
        default = info.default if info.default_factory is msgspec.NODEFAULT else info.default_factory()
        plan = _field_plan(info.name, info.encode_name, hints[info.name], default)
        plans.append(plan)
        if plan.kind is Kind.EXTRAS:
            continue
        # proto3 JSON parsers accept the JSON name and the original proto name.
        for key in {plan.json_name, _snake_case(plan.json_name), info.name}:
            by_key.setdefault(key, plan)
    oneofs = dict(getattr(struct_type, "_oneofs", {}))
    extras = next((p for p in plans if p.kind is Kind.EXTRAS), None)
    return MessagePlan(
        type_=struct_type,
        fields=tuple(plans),
        by_key=by_key,
        oneof_groups=oneofs,
        emit_unpopulated=bool(getattr(struct_type, "_emit_unpopulated", False)),
        extras_field=extras,
        names_for_hints=sorted({p.json_name for p in plans if p.kind is not Kind.EXTRAS}),
    )


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _field_plan(attr: str, json_name: str, hint: Any, default: Any) -> FieldPlan:
    optional = False
    repeated = False
    base = hint
    if _is_optional(base):
        optional = True
        base = next(arg for arg in typing.get_args(base) if arg is not type(None))
    if typing.get_origin(base) is list:
        repeated = True
        (base,) = typing.get_args(base)
    metadata: tuple[Any, ...] = ()
    if typing.get_origin(base) is typing.Annotated:
        base, *extra = typing.get_args(base)
        metadata = tuple(extra)
    common = {"attr": attr, "json_name": json_name, "repeated": repeated,
              "optional": optional, "default": default}
    if SAMPLER_NAME in metadata:
        return FieldPlan(kind=Kind.SAMPLER, **common)
    if isinstance(base, type):
        if base is AdjustmentExtras:
            return FieldPlan(kind=Kind.EXTRAS, **common)
        if issubclass(base, msgspec.Struct):
            return FieldPlan(kind=Kind.MESSAGE, target=base, **common)
        if issubclass(base, enum.Enum):
            return FieldPlan(kind=Kind.ENUM, target=base, **common)
        if base is bool:
            return FieldPlan(kind=Kind.BOOL, **common)
        if base is U64:
            return FieldPlan(kind=Kind.INT, int_range=(0, 2**64 - 1), int_type=U64, **common)
        if base is I64:
            return FieldPlan(kind=Kind.INT, int_range=INT64_RANGE, int_type=I64, **common)
        if base is int:
            return FieldPlan(kind=Kind.INT, int_range=_bounds(metadata, INT64_RANGE), **common)
        if base is float:
            return FieldPlan(kind=Kind.FLOAT, float32=_bounds(metadata, None) is not None, **common)
        if base is str:
            return FieldPlan(kind=Kind.STRING, **common)
        if base is bytes or base is Base64Bytes:
            return FieldPlan(kind=Kind.BYTES, **common)
        if base is dict:
            return FieldPlan(kind=Kind.JSON_OBJECT, **common)
    if typing.get_origin(base) is dict:
        return FieldPlan(kind=Kind.JSON_OBJECT, **common)
    if base is Any:
        return FieldPlan(kind=Kind.ANY, **common)
    return FieldPlan(kind=Kind.OTHER, target=base, **common)


def _is_optional(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _bounds(metadata: tuple[Any, ...], fallback: Any) -> Any:
    for item in metadata:
        if isinstance(item, msgspec.Meta) and item.ge is not None and item.le is not None:
            return (item.ge, item.le)
    return fallback
