from sfumato.proto import generation_pb2 as _generation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EngineType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEXT: _ClassVar[EngineType]
    PICTURE: _ClassVar[EngineType]
    AUDIO: _ClassVar[EngineType]
    VIDEO: _ClassVar[EngineType]
    CLASSIFICATION: _ClassVar[EngineType]
    STORAGE: _ClassVar[EngineType]

class EngineTokenizer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GPT2: _ClassVar[EngineTokenizer]
    PILE: _ClassVar[EngineTokenizer]

class EngineTaskGroup(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GENERATE: _ClassVar[EngineTaskGroup]
    UPSCALE: _ClassVar[EngineTaskGroup]
    UTILITY: _ClassVar[EngineTaskGroup]
    HINTER: _ClassVar[EngineTaskGroup]
TEXT: EngineType
PICTURE: EngineType
AUDIO: EngineType
VIDEO: EngineType
CLASSIFICATION: EngineType
STORAGE: EngineType
GPT2: EngineTokenizer
PILE: EngineTokenizer
GENERATE: EngineTaskGroup
UPSCALE: EngineTaskGroup
UTILITY: EngineTaskGroup
HINTER: EngineTaskGroup

class EngineSampler(_message.Message):
    __slots__ = ("sampler", "supports_eta", "supports_churn", "supports_sigma_limits", "supports_karras_rho", "supported_noise_types")
    SAMPLER_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_ETA_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_CHURN_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_SIGMA_LIMITS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_KARRAS_RHO_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_NOISE_TYPES_FIELD_NUMBER: _ClassVar[int]
    sampler: _generation_pb2.DiffusionSampler
    supports_eta: bool
    supports_churn: bool
    supports_sigma_limits: bool
    supports_karras_rho: bool
    supported_noise_types: _containers.RepeatedScalarFieldContainer[_generation_pb2.SamplerNoiseType]
    def __init__(self, sampler: _Optional[_Union[_generation_pb2.DiffusionSampler, str]] = ..., supports_eta: _Optional[bool] = ..., supports_churn: _Optional[bool] = ..., supports_sigma_limits: _Optional[bool] = ..., supports_karras_rho: _Optional[bool] = ..., supported_noise_types: _Optional[_Iterable[_Union[_generation_pb2.SamplerNoiseType, str]]] = ...) -> None: ...

class EngineInfo(_message.Message):
    __slots__ = ("id", "owner", "ready", "type", "tokenizer", "name", "description", "supported_samplers")
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_SAMPLERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    owner: str
    ready: bool
    type: EngineType
    tokenizer: EngineTokenizer
    name: str
    description: str
    supported_samplers: _containers.RepeatedCompositeFieldContainer[EngineSampler]
    def __init__(self, id: _Optional[str] = ..., owner: _Optional[str] = ..., ready: _Optional[bool] = ..., type: _Optional[_Union[EngineType, str]] = ..., tokenizer: _Optional[_Union[EngineTokenizer, str]] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., supported_samplers: _Optional[_Iterable[_Union[EngineSampler, _Mapping]]] = ...) -> None: ...

class ListEnginesRequest(_message.Message):
    __slots__ = ("task_group",)
    TASK_GROUP_FIELD_NUMBER: _ClassVar[int]
    task_group: EngineTaskGroup
    def __init__(self, task_group: _Optional[_Union[EngineTaskGroup, str]] = ...) -> None: ...

class Engines(_message.Message):
    __slots__ = ("engine",)
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    engine: _containers.RepeatedCompositeFieldContainer[EngineInfo]
    def __init__(self, engine: _Optional[_Iterable[_Union[EngineInfo, _Mapping]]] = ...) -> None: ...
