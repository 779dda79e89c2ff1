"""Protobuf messages <-> the wire Structs, at the edge of the binary dialects.

Both directions walk the wire model's field plans (:mod:`sfumato.wire_codec.schema`)
and find each proto field by its JSON name, so one table drives the JSON codec and
this converter; the agreement test keeps the .proto files and ``sfumato.wire`` in step.
Bytes are handed over without a copy or a base64 round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
import numpy
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message as ProtoMessage

from sfumato.wire import PROTO_NUMBERS
from sfumato.wire_codec import DEFAULT_SAMPLERS, WireError
from sfumato.wire_codec.schema import FieldPlan, Kind, MessagePlan, plan_for

T = TypeVar("T")
P = TypeVar("P", bound=ProtoMessage)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@functools.cache
def _fields_by_plan(descriptor: Descriptor, struct_type: type) -> tuple[tuple[FieldPlan, FieldDescriptor], ...]:
    """The wire fields that have a proto field, each paired with it (by JSON name)."""
    by_json = {field.json_name: field for field in descriptor.fields}
    return tuple(
        (plan, by_json[plan.json_name]) for plan in plan_for(struct_type).fields if plan.json_name in by_json
    )


# ---- protobuf -> wire --------------------------------------------------------------------


def to_wire(message: ProtoMessage, type_: type[T], *, samplers: Mapping[int, str] | None = None) -> T:
    """A decoded protobuf message as the wire Struct ``type_``, or :class:`WireError` naming the field.

    Protobuf has checked types and oneofs already; what is left are enum numbers the
    wire model does not know (proto3 enums are open) and the Struct's own checks.
    """
    return _ToWire(DEFAULT_SAMPLERS if samplers is None else samplers).message(message, plan_for(type_), "")


class _ToWire:
    def __init__(self, samplers: Mapping[int, str]) -> None:
        self.samplers = samplers

    def message(self, message: ProtoMessage, plan: MessagePlan, path: str) -> Any:
        values: dict[str, Any] = {}
        for descriptor, value in message.ListFields():
            field_plan = plan.by_key.get(descriptor.json_name)
            if field_plan is None:  # a field only the proto has; the agreement test lists them
                continue
            field_path = _join(path, descriptor.json_name)
            if field_plan.repeated:
                values[field_plan.attr] = [
                    self.single(item, field_plan, f"{field_path}[{index}]") for index, item in enumerate(value)
                ]
            else:
                values[field_plan.attr] = self.single(value, field_plan, field_path)
        try:
            return plan.type_(**values)
        except (TypeError, ValueError) as error:
            raise WireError(path, str(error)) from None

    def single(self, value: Any, plan: FieldPlan, path: str) -> Any:
        kind = plan.kind
        if kind is Kind.MESSAGE:
            return self.message(value, plan_for(plan.target), path)
        if kind is Kind.ENUM:
            names = PROTO_NUMBERS[plan.target]
            if value not in names:
                allowed = ", ".join(f"{number} ({name})" for number, name in sorted(names.items()))
                raise WireError(path, f"unknown {plan.target.__name__} number {value}; allowed: {allowed}")
            return plan.target(names[value])
        if kind is Kind.SAMPLER:
            if value not in self.samplers:
                known = ", ".join(f"{number} ({name})" for number, name in sorted(self.samplers.items()))
                raise WireError(path, f"unknown sampler number {value}; known numbers: {known}")
            return self.samplers[value]
        if kind is Kind.INT:
            return plan.int_type(value) if plan.int_as_string else value
        if kind is Kind.FLOAT and plan.float32:
            # A proto float arrives widened (0.7 -> 0.699999988...): take the shortest decimal that
            # is the same float32, as protobuf's JSON printer does, so JSON and binary requests agree.
            return float(str(numpy.float32(value)))
        if kind is Kind.JSON_OBJECT:
            return json_format.MessageToDict(value)
        return value  # bool, string, bytes: already the Python value


# ---- wire -> protobuf --------------------------------------------------------------------


def to_proto(struct: msgspec.Struct, proto_type: type[P], *, sampler_numbers: Mapping[str, int] | None = None) -> P:
    """A wire Struct as a new protobuf message of ``proto_type``.

    ``sampler_numbers`` maps sampler names to DiffusionSampler numbers (plugins may add
    names); a name without a number is left unset.
    """
    message = proto_type()
    _fill(message, struct, sampler_numbers or _DEFAULT_SAMPLER_NUMBERS)
    return message


_DEFAULT_SAMPLER_NUMBERS = {name: number for number, name in DEFAULT_SAMPLERS.items()}


def _fill(message: ProtoMessage, struct: msgspec.Struct, sampler_numbers: Mapping[str, int]) -> None:
    for plan, descriptor in _fields_by_plan(message.DESCRIPTOR, type(struct)):
        value = getattr(struct, plan.attr)
        if value is None:
            continue
        name = descriptor.name
        if plan.repeated:
            if not value:
                continue
            container = getattr(message, name)
            if plan.kind is Kind.MESSAGE:
                for item in value:
                    _fill(container.add(), item, sampler_numbers)
            else:
                container.extend(_scalar(item, plan, sampler_numbers) for item in value)
            continue
        if plan.kind is Kind.MESSAGE:
            child = getattr(message, name)
            child.SetInParent()  # an empty message that is set is still present
            _fill(child, value, sampler_numbers)
        elif plan.kind is Kind.JSON_OBJECT:
            getattr(message, name).update(value)
        else:
            scalar = _scalar(value, plan, sampler_numbers)
            if scalar is not None:
                setattr(message, name, scalar)


def _scalar(value: Any, plan: FieldPlan, sampler_numbers: Mapping[str, int]) -> Any:
    if plan.kind is Kind.ENUM:
        return value.number
    if plan.kind is Kind.SAMPLER:
        return sampler_numbers.get(value)
    if plan.kind is Kind.INT:
        return int(value)
    return value
