"""The .proto files and the msgspec wire model (sfumato.wire) agree field by field,
and the fields both share with the stability-sdk's own proto carry the same numbers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from sfumato import wire
from sfumato.proto import engines_pb2, generation_pb2, tensors_pb2
from sfumato.wire_codec.schema import Kind, plan_for
from tests.wire.sdk_python import sdk_python

FILES = (tensors_pb2.DESCRIPTOR, generation_pb2.DESCRIPTOR, engines_pb2.DESCRIPTOR)
WIRE_ONLY_MESSAGES = {"RpcStatus"}  # google.rpc.Status, a JSON error body
PROTO_ONLY_MESSAGES = {"OnStatus", "Stage", "ChainRequest"}  # ChainGenerate's envelope; its Request is converted
PROTO_ONLY_ENUMS = {"StageAction"}  # ChainRequest's
WIRE_ONLY_FIELDS = {("ImageAdjustment", "extra")}  # plugin adjustment kinds have no field number: JSON only

D = FieldDescriptor
INT_TYPES = {
    (0, 2**32 - 1): D.TYPE_UINT32,
    (-(2**31), 2**31 - 1): D.TYPE_INT32,
    (0, 2**64 - 1): D.TYPE_UINT64,
    (-(2**63), 2**63 - 1): D.TYPE_INT64,
}
SIMPLE_TYPES = {Kind.BOOL: D.TYPE_BOOL, Kind.STRING: D.TYPE_STRING, Kind.BYTES: D.TYPE_BYTES}


def _wire_name(proto_name: str) -> str:
    return proto_name.replace("_", "")


def proto_messages() -> dict[str, Descriptor]:
    return {_wire_name(name): message for file in FILES for name, message in file.message_types_by_name.items()}


def proto_enums() -> dict[str, EnumDescriptor]:
    return {name: value for file in FILES for name, value in file.enum_types_by_name.items()}


def wire_messages() -> dict[str, type]:
    return {
        name: getattr(wire, name)
        for name in wire.__all__
        if isinstance(getattr(wire, name), type) and issubclass(getattr(wire, name), wire.Message)
        and getattr(wire, name) is not wire.Message
    }


def wire_enums() -> dict[str, type[wire.ProtoEnum]]:
    return {enum_type.__name__: enum_type for enum_type in wire.PROTO_NUMBERS}


def test_the_same_messages_on_both_sides() -> None:
    assert set(wire_messages()) - WIRE_ONLY_MESSAGES == set(proto_messages()) - PROTO_ONLY_MESSAGES


def test_the_same_enums_with_the_same_numbers() -> None:
    protos = proto_enums()
    assert set(wire_enums()) == set(protos) - PROTO_ONLY_ENUMS
    for name, enum_type in wire_enums().items():
        ours = {member.value: member.number for member in enum_type}
        theirs = {value.name: value.number for value in protos[name].values}
        assert ours == theirs, name


@pytest.mark.parametrize("name", sorted(set(wire_messages()) - WIRE_ONLY_MESSAGES))
def test_message_fields_agree(name: str) -> None:
    struct_type, descriptor = wire_messages()[name], proto_messages()[name]
    plans = {plan.json_name: plan for plan in plan_for(struct_type).fields if (name, plan.attr) not in WIRE_ONLY_FIELDS}
    fields = {field.json_name: field for field in descriptor.fields}
    assert set(plans) == set(fields), f"{name}: fields differ"
    for json_name, plan in plans.items():
        field = fields[json_name]
        where = f"{name}.{json_name}"
        assert plan.repeated == field.is_repeated, where
        if not plan.repeated:
            # None = unset on the wire <-> explicit presence in proto3 (optional, message or oneof member)
            assert plan.optional == field.has_presence, f"{where}: presence"
        if plan.kind is Kind.MESSAGE:
            assert field.type == D.TYPE_MESSAGE and _wire_name(field.message_type.name) == plan.target.__name__, where
        elif plan.kind is Kind.ENUM:
            assert field.type == D.TYPE_ENUM and field.enum_type.name == plan.target.__name__, where
        elif plan.kind is Kind.SAMPLER:
            assert field.type == D.TYPE_ENUM and field.enum_type.name == "DiffusionSampler", where
        elif plan.kind is Kind.INT:
            assert field.type == INT_TYPES[plan.int_range], where
        elif plan.kind is Kind.FLOAT:
            assert field.type == (D.TYPE_FLOAT if plan.float32 else D.TYPE_DOUBLE), where
        elif plan.kind is Kind.JSON_OBJECT:
            assert field.type == D.TYPE_MESSAGE and field.message_type.full_name == "google.protobuf.Struct", where
        else:
            assert field.type == SIMPLE_TYPES[plan.kind], where


@pytest.mark.parametrize("name", sorted(set(wire_messages()) - WIRE_ONLY_MESSAGES))
def test_oneofs_agree(name: str) -> None:
    struct_type, descriptor = wire_messages()[name], proto_messages()[name]
    plans = {plan.attr: plan.json_name for plan in plan_for(struct_type).fields}
    ours = {
        group: {plans[attr] for attr in members if (name, attr) not in WIRE_ONLY_FIELDS}
        for group, members in struct_type._oneofs.items()
    }
    theirs = {
        oneof.name: {field.json_name for field in oneof.fields}
        for oneof in descriptor.oneofs
        if not (len(oneof.fields) == 1 and oneof.name == f"_{oneof.fields[0].name}")  # proto3 `optional`
    }
    assert ours == theirs


def test_a_new_wire_field_would_be_noticed() -> None:
    """The comparison sees a field the proto lacks (guards the test itself)."""

    class Token(wire.Message):
        text: str | None = None
        id: wire.U32 = 0
        extra_field: int = 0

    plans = {plan.json_name for plan in plan_for(Token).fields}
    assert plans != {field.json_name for field in generation_pb2.Token.DESCRIPTOR.fields}


SDK_DUMP = r"""
import json
from stability_sdk.interfaces.gooseai.generation import generation_pb2
from stability_sdk.interfaces.gooseai.engines import engines_pb2
out = {"messages": {}, "enums": {}}
for module in (generation_pb2, engines_pb2):
    for name, message in module.DESCRIPTOR.message_types_by_name.items():
        out["messages"][name] = {f.name: [f.number, f.type, f.label] for f in message.fields}
    for name, enum in module.DESCRIPTOR.enum_types_by_name.items():
        out["enums"][name] = {v.name: v.number for v in enum.values}
print(json.dumps(out))
"""


def test_numbers_match_the_stability_sdk_where_both_have_a_field() -> None:
    """An independent reference: the SDK's generated descriptors (upstream numbering).

    Every field and enum value that both protos name must have the same number and type.
    """
    result = subprocess.run([sdk_python(), "-c", SDK_DUMP], capture_output=True, text=True, check=True, timeout=120)
    sdk = json.loads(result.stdout)
    ours_messages = {name: message for file in FILES for name, message in file.message_types_by_name.items()}
    compared = 0
    for name, fields in sdk["messages"].items():
        ours = ours_messages.get(name)
        if ours is None:
            continue
        for field_name, (number, kind, label) in fields.items():
            field = ours.fields_by_name.get(field_name)
            if field is None:
                continue
            repeated = label == 3  # LABEL_REPEATED in the SDK's (older) protobuf
            assert (field.number, field.type, field.is_repeated) == (number, kind, repeated), f"{name}.{field_name}"
            compared += 1
    for name, values in sdk["enums"].items():
        ours_enum = proto_enums().get(name)
        if ours_enum is None:
            continue
        for value_name, number in values.items():
            if value_name in ours_enum.values_by_name:
                assert ours_enum.values_by_name[value_name].number == number, f"{name}.{value_name}"
                compared += 1
    assert compared > 150  # most of the API is shared


def test_importing_sfumato_does_not_import_grpc() -> None:
    code = "import sys, sfumato, sfumato.api.app, sfumato.cli, sfumato.proto; print('grpc' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
