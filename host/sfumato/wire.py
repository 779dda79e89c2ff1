"""The generation API's messages as msgspec Structs (the proto3-JSON wire model).

Python attributes are the proto field names (snake_case); the JSON names are
lowerCamelCase. Enum members' values are their proto *names*; ``PROTO_NUMBERS``
maps each enum's numbers to names. Field numbers follow the stablecabal (Gyre)
proto, with the upstream Stability fields that real clients send.

Presence: proto3 ``optional`` fields, message fields and ``oneof`` members default
to ``None`` (= unset); repeated fields default to an empty list; plain scalars to
their zero value. 64-bit integers are typed ``U64``/``I64`` so the codec prints them
as JSON strings. Encode and decode with :mod:`sfumato.wire_codec`, not msgspec
directly: msgspec alone knows neither snake_case names, enum numbers, URL-safe
base64 nor the 64-bit-as-string rule.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import Meta, field

__all__ = [  # noqa: RUF022 - grouped by role, not alphabetically
    "U64", "I64", "Base64Bytes", "U32", "I32", "F32", "SamplerName", "AdjustmentExtras", "ProtoEnum",
    "PROTO_NUMBERS", "Message",
    # enums
    "FinishReason", "ArtifactType", "GaussianDirection", "ChannelSource", "RescaleMode",
    "LoraTarget", "DiffusionSampler", "SamplerNoiseType", "Upscaler", "GuidancePreset",
    "ModelArchitecture", "Dtype", "AttributeType", "MaskedAreaInit", "WeightMethod",
    "T2IAdapter", "T2IAdapterInit", "CaiModelMetadata", "EngineType", "EngineTokenizer",
    "EngineTaskGroup",
    # messages
    "Token", "Tokens", "Tensor", "Lora", "ImageAdjustmentGaussian", "ImageAdjustmentInvert",
    "ImageAdjustmentLevels", "ImageAdjustmentChannels", "ImageAdjustmentRescale",
    "ImageAdjustmentCrop", "ImageAdjustment", "Artifact", "PromptParameters", "Prompt",
    "SigmaParameters", "ChurnSettings", "SamplerParameters", "ScheduleParameters", "Model",
    "CutoutParameters", "GuidanceScheduleParameters", "GuidanceInstanceParameters",
    "GuidanceParameters", "TransformType", "StepParameter", "ExtendedParameter",
    "ExtendedParameters", "HiresFixParameters", "T2IAdapterParameter", "CAIParameters",
    "FineTuningParameters", "ImageParameters", "Request", "AnswerMeta", "Answer",
    "AsyncHandle", "AsyncStatus", "AsyncAnswer", "AsyncCancelAnswer", "RpcStatus",
    "EngineSampler", "EngineInfo", "Engines", "ListEnginesRequest",
]


# --- scalar markers -------------------------------------------------------------------------


class U64(int):
    """A proto ``uint64``: printed as a JSON string, read from a string or a number."""

    __slots__ = ()


class I64(int):
    """A proto ``int64``: printed as a JSON string, read from a string or a number."""

    __slots__ = ()


class Base64Bytes(bytes):
    """A proto ``bytes`` field: base64 in JSON. The codec decodes and encodes it with a
    SIMD base64 library, several times faster than msgspec's own base64 on images."""

    __slots__ = ()


U32 = Annotated[int, Meta(ge=0, le=2**32 - 1)]
I32 = Annotated[int, Meta(ge=-(2**31), le=2**31 - 1)]
# proto ``float`` is 32-bit: finite values beyond this range are rejected.
F32 = Annotated[float, Meta(ge=-3.4028234663852886e38, le=3.4028234663852886e38)]


class _SamplerNameMarker:
    """Annotated metadata: a DiffusionSampler value held by name, plugins may add names."""

    def __repr__(self) -> str:
        return "SamplerName"


SAMPLER_NAME = _SamplerNameMarker()
SamplerName = Annotated[str, SAMPLER_NAME]


class AdjustmentExtras(dict):  # type: ignore[type-arg]
    """Plugin-registered ``ImageAdjustment`` kinds: kind name -> its params Struct.

    On the wire each entry is a sibling key of the built-in kinds
    (``{"depth": {...}}``), never an ``extra`` object.
    """


# --- enums ------------------------------------------------------------------------------------


class ProtoEnum(enum.Enum):
    """A proto enum: the value is the proto name, ``number`` the proto number.

    Members are declared as ``NAME = "NAME", number`` so both sit on one line.
    """

    number: int

    def __new__(cls, name: str, number: int) -> ProtoEnum:
        member = object.__new__(cls)
        member._value_ = name
        member.number = number
        return member

    @classmethod
    def from_number(cls, number: int) -> ProtoEnum:
        return cls(PROTO_NUMBERS[cls][number])


class FinishReason(ProtoEnum):
    NULL = "NULL", 0
    LENGTH = "LENGTH", 1
    STOP = "STOP", 2
    ERROR = "ERROR", 3
    FILTER = "FILTER", 4


class ArtifactType(ProtoEnum):
    ARTIFACT_NONE = "ARTIFACT_NONE", 0
    ARTIFACT_IMAGE = "ARTIFACT_IMAGE", 1
    ARTIFACT_VIDEO = "ARTIFACT_VIDEO", 2
    ARTIFACT_TEXT = "ARTIFACT_TEXT", 3
    ARTIFACT_TOKENS = "ARTIFACT_TOKENS", 4
    ARTIFACT_EMBEDDING = "ARTIFACT_EMBEDDING", 5
    ARTIFACT_CLASSIFICATIONS = "ARTIFACT_CLASSIFICATIONS", 6
    ARTIFACT_MASK = "ARTIFACT_MASK", 7
    ARTIFACT_LATENT = "ARTIFACT_LATENT", 8
    ARTIFACT_TENSOR = "ARTIFACT_TENSOR", 9
    ARTIFACT_LORA = "ARTIFACT_LORA", 500


class GaussianDirection(ProtoEnum):
    DIRECTION_NONE = "DIRECTION_NONE", 0
    DIRECTION_UP = "DIRECTION_UP", 1
    DIRECTION_DOWN = "DIRECTION_DOWN", 2


class ChannelSource(ProtoEnum):
    CHANNEL_R = "CHANNEL_R", 0
    CHANNEL_G = "CHANNEL_G", 1
    CHANNEL_B = "CHANNEL_B", 2
    CHANNEL_A = "CHANNEL_A", 3
    CHANNEL_ZERO = "CHANNEL_ZERO", 4
    CHANNEL_ONE = "CHANNEL_ONE", 5
    CHANNEL_DISCARD = "CHANNEL_DISCARD", 6


class RescaleMode(ProtoEnum):
    RESCALE_STRICT = "RESCALE_STRICT", 0
    RESCALE_CROP = "RESCALE_CROP", 2
    RESCALE_FIT = "RESCALE_FIT", 3


class LoraTarget(ProtoEnum):
    LORA_UNET = "LORA_UNET", 0
    LORA_TEXT_ENCODER = "LORA_TEXT_ENCODER", 1


class DiffusionSampler(ProtoEnum):
    SAMPLER_DDIM = "SAMPLER_DDIM", 0
    SAMPLER_DDPM = "SAMPLER_DDPM", 1
    SAMPLER_K_EULER = "SAMPLER_K_EULER", 2
    SAMPLER_K_EULER_ANCESTRAL = "SAMPLER_K_EULER_ANCESTRAL", 3
    SAMPLER_K_HEUN = "SAMPLER_K_HEUN", 4
    SAMPLER_K_DPM_2 = "SAMPLER_K_DPM_2", 5
    SAMPLER_K_DPM_2_ANCESTRAL = "SAMPLER_K_DPM_2_ANCESTRAL", 6
    SAMPLER_K_LMS = "SAMPLER_K_LMS", 7
    SAMPLER_K_DPMPP_2S_ANCESTRAL = "SAMPLER_K_DPMPP_2S_ANCESTRAL", 8
    SAMPLER_K_DPMPP_2M = "SAMPLER_K_DPMPP_2M", 9
    SAMPLER_K_DPMPP_SDE = "SAMPLER_K_DPMPP_SDE", 10
    SAMPLER_DPMSOLVERPP_1ORDER = "SAMPLER_DPMSOLVERPP_1ORDER", 500
    SAMPLER_DPMSOLVERPP_2ORDER = "SAMPLER_DPMSOLVERPP_2ORDER", 501
    SAMPLER_DPMSOLVERPP_3ORDER = "SAMPLER_DPMSOLVERPP_3ORDER", 502
    SAMPLER_DPM_FAST = "SAMPLER_DPM_FAST", 550
    SAMPLER_DPM_ADAPTIVE = "SAMPLER_DPM_ADAPTIVE", 551
    SAMPLER_DPMSOLVERPP_2S_ANCESTRAL = "SAMPLER_DPMSOLVERPP_2S_ANCESTRAL", 552
    SAMPLER_DPMSOLVERPP_SDE = "SAMPLER_DPMSOLVERPP_SDE", 553
    SAMPLER_DPMSOLVERPP_2M = "SAMPLER_DPMSOLVERPP_2M", 554


class SamplerNoiseType(ProtoEnum):
    SAMPLER_NOISE_NORMAL = "SAMPLER_NOISE_NORMAL", 0
    SAMPLER_NOISE_BROWNIAN = "SAMPLER_NOISE_BROWNIAN", 1


class Upscaler(ProtoEnum):
    UPSCALER_RGB = "UPSCALER_RGB", 0
    UPSCALER_GFPGAN = "UPSCALER_GFPGAN", 1
    UPSCALER_ESRGAN = "UPSCALER_ESRGAN", 2


class GuidancePreset(ProtoEnum):
    GUIDANCE_PRESET_NONE = "GUIDANCE_PRESET_NONE", 0
    GUIDANCE_PRESET_SIMPLE = "GUIDANCE_PRESET_SIMPLE", 1
    GUIDANCE_PRESET_FAST_BLUE = "GUIDANCE_PRESET_FAST_BLUE", 2
    GUIDANCE_PRESET_FAST_GREEN = "GUIDANCE_PRESET_FAST_GREEN", 3
    GUIDANCE_PRESET_SLOW = "GUIDANCE_PRESET_SLOW", 4
    GUIDANCE_PRESET_SLOWER = "GUIDANCE_PRESET_SLOWER", 5
    GUIDANCE_PRESET_SLOWEST = "GUIDANCE_PRESET_SLOWEST", 6


class ModelArchitecture(ProtoEnum):
    MODEL_ARCHITECTURE_NONE = "MODEL_ARCHITECTURE_NONE", 0
    MODEL_ARCHITECTURE_CLIP_VIT = "MODEL_ARCHITECTURE_CLIP_VIT", 1
    MODEL_ARCHITECTURE_CLIP_RESNET = "MODEL_ARCHITECTURE_CLIP_RESNET", 2
    MODEL_ARCHITECTURE_LDM = "MODEL_ARCHITECTURE_LDM", 3


class Dtype(ProtoEnum):
    DT_INVALID = "DT_INVALID", 0
    DT_FLOAT32 = "DT_FLOAT32", 1
    DT_FLOAT64 = "DT_FLOAT64", 2
    DT_FLOAT16 = "DT_FLOAT16", 3
    DT_BFLOAT16 = "DT_BFLOAT16", 4
    DT_COMPLEX32 = "DT_COMPLEX32", 5
    DT_COMPLEX64 = "DT_COMPLEX64", 6
    DT_COMPLEX128 = "DT_COMPLEX128", 7
    DT_UINT8 = "DT_UINT8", 8
    DT_INT8 = "DT_INT8", 9
    DT_INT16 = "DT_INT16", 10
    DT_INT32 = "DT_INT32", 11
    DT_INT64 = "DT_INT64", 12
    DT_BOOL = "DT_BOOL", 13
    DT_QUINT8 = "DT_QUINT8", 14
    DT_QINT8 = "DT_QINT8", 15
    DT_QINT32 = "DT_QINT32", 16
    DT_QUINT4_2 = "DT_QUINT4_2", 17


class AttributeType(ProtoEnum):
    AT_PARAMETER = "AT_PARAMETER", 0
    AT_BUFFER = "AT_BUFFER", 1


class MaskedAreaInit(ProtoEnum):
    MASKED_AREA_INIT_ZERO = "MASKED_AREA_INIT_ZERO", 0
    MASKED_AREA_INIT_RANDOM = "MASKED_AREA_INIT_RANDOM", 1
    MASKED_AREA_INIT_ORIGINAL = "MASKED_AREA_INIT_ORIGINAL", 2


class WeightMethod(ProtoEnum):
    TEXT_ENCODER = "TEXT_ENCODER", 0
    CROSS_ATTENTION = "CROSS_ATTENTION", 1


class T2IAdapter(ProtoEnum):
    T2IADAPTER_NONE = "T2IADAPTER_NONE", 0
    T2IADAPTER_SKETCH = "T2IADAPTER_SKETCH", 1
    T2IADAPTER_DEPTH = "T2IADAPTER_DEPTH", 2
    T2IADAPTER_CANNY = "T2IADAPTER_CANNY", 3


class T2IAdapterInit(ProtoEnum):
    T2IADAPTERINIT_IMAGE = "T2IADAPTERINIT_IMAGE", 0
    T2IADAPTERINIT_ADAPTER_IMAGE = "T2IADAPTERINIT_ADAPTER_IMAGE", 1


class CaiModelMetadata(ProtoEnum):
    MODEL_METADATA_UNSPECIFIED = "MODEL_METADATA_UNSPECIFIED", 0
    MODEL_METADATA_SIGN_WITH_ENGINE_ID = "MODEL_METADATA_SIGN_WITH_ENGINE_ID", 1


class EngineType(ProtoEnum):
    TEXT = "TEXT", 0
    PICTURE = "PICTURE", 1
    AUDIO = "AUDIO", 2
    VIDEO = "VIDEO", 3
    CLASSIFICATION = "CLASSIFICATION", 4
    STORAGE = "STORAGE", 5


class EngineTokenizer(ProtoEnum):
    GPT2 = "GPT2", 0
    PILE = "PILE", 1


class EngineTaskGroup(ProtoEnum):
    GENERATE = "GENERATE", 0
    UPSCALE = "UPSCALE", 1
    UTILITY = "UTILITY", 2
    HINTER = "HINTER", 3


PROTO_NUMBERS: dict[type[ProtoEnum], dict[int, str]] = {
    enum_type: {member.number: member.name for member in enum_type}
    for enum_type in ProtoEnum.__subclasses__()
}
"""Each enum's proto number -> name table."""


# --- messages ---------------------------------------------------------------------------------


class Message(msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True,
              kw_only=True):
    """Base of every wire message.

    ``_oneofs`` names each oneof group's member attributes; setting more than one is
    an error, both when constructing and when decoding.
    """

    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {}
    # Print every field even at its default value (google.rpc.Status bodies).
    _emit_unpopulated: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for group, members in self._oneofs.items():
            present = [name for name in members if _oneof_member_set(self, name)]
            if len(present) > 1:
                raise ValueError(f"only one of {', '.join(present)} may be set (oneof {group})")


def _oneof_member_set(message: Message, attribute: str) -> bool:
    value = getattr(message, attribute)
    return bool(value) if isinstance(value, AdjustmentExtras) else value is not None


class Token(Message):
    text: str | None = None
    id: U32 = 0


class Tokens(Message):
    tokens: list[Token] = []
    tokenizer_id: str | None = None


class Tensor(Message):
    dtype: Dtype = Dtype.DT_INVALID
    shape: list[I64] = []
    data: Base64Bytes = Base64Bytes()
    attr_type: AttributeType | None = None


class Lora(Message):
    target: LoraTarget = LoraTarget.LORA_UNET
    tensors: list[Tensor] = []


class ImageAdjustmentGaussian(Message):
    sigma: F32 = 0.0
    direction: GaussianDirection = GaussianDirection.DIRECTION_NONE


class ImageAdjustmentInvert(Message):
    pass


class ImageAdjustmentLevels(Message):
    input_low: F32 = 0.0
    input_high: F32 = 0.0
    output_low: F32 = 0.0
    output_high: F32 = 0.0


class ImageAdjustmentChannels(Message):
    r: ChannelSource | None = None
    g: ChannelSource | None = None
    b: ChannelSource | None = None
    a: ChannelSource | None = None


class ImageAdjustmentRescale(Message):
    height: U64 = 0
    width: U64 = 0
    mode: RescaleMode = RescaleMode.RESCALE_STRICT
    algorithm_hint: list[str] = []


class ImageAdjustmentCrop(Message):
    top: U64 = 0
    left: U64 = 0
    width: U64 = 0
    height: U64 = 0


BUILTIN_ADJUSTMENTS = ("blur", "invert", "levels", "channels", "rescale", "crop")


class ImageAdjustment(Message):
    """One adjustment: exactly one kind is set (oneof ``adjustment``).

    ``extra`` holds plugin-registered kinds; on the wire they are sibling keys.
    """

    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {"adjustment": (*BUILTIN_ADJUSTMENTS, "extra")}

    blur: ImageAdjustmentGaussian | None = None
    invert: ImageAdjustmentInvert | None = None
    levels: ImageAdjustmentLevels | None = None
    channels: ImageAdjustmentChannels | None = None
    rescale: ImageAdjustmentRescale | None = None
    crop: ImageAdjustmentCrop | None = None
    extra: AdjustmentExtras = field(default_factory=AdjustmentExtras)

    def __post_init__(self) -> None:
        if len(self.extra) > 1:
            raise ValueError(f"only one of {', '.join(self.extra)} may be set (oneof adjustment)")
        super().__post_init__()


class Artifact(Message):
    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {
        "data": ("binary", "text", "tokens", "tensor", "lora"),
    }

    id: U64 = 0
    type: ArtifactType = ArtifactType.ARTIFACT_NONE
    mime: str = ""
    magic: str | None = None
    binary: Base64Bytes | None = None
    text: str | None = None
    tokens: Tokens | None = None
    tensor: Tensor | None = None
    lora: Lora | None = None
    index: U32 = 0
    finish_reason: FinishReason = FinishReason.NULL
    seed: U32 = 0
    uuid: str = ""
    size: U64 = 0
    adjustments: list[ImageAdjustment] = []
    post_adjustments: list[ImageAdjustment] = []


class PromptParameters(Message):
    init: bool | None = None
    weight: F32 | None = None


class Prompt(Message):
    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {"prompt": ("text", "tokens", "artifact")}

    parameters: PromptParameters | None = None
    text: str | None = None
    tokens: Tokens | None = None
    artifact: Artifact | None = None


class SigmaParameters(Message):
    sigma_min: F32 | None = None
    sigma_max: F32 | None = None
    karras_rho: F32 | None = None


class ChurnSettings(Message):
    churn: F32 = 0.0
    churn_tmin: F32 | None = None
    churn_tmax: F32 | None = None


class SamplerParameters(Message):
    eta: F32 | None = None
    sampling_steps: U64 | None = None
    latent_channels: U64 | None = None
    downsampling_factor: U64 | None = None
    cfg_scale: F32 | None = None
    init_noise_scale: F32 | None = None
    step_noise_scale: F32 | None = None
    churn: ChurnSettings | None = None
    sigma: SigmaParameters | None = None
    noise_type: SamplerNoiseType | None = None


class ScheduleParameters(Message):
    start: F32 | None = None
    end: F32 | None = None
    value: F32 | None = None


class Model(Message):
    architecture: ModelArchitecture = ModelArchitecture.MODEL_ARCHITECTURE_NONE
    publisher: str = ""
    dataset: str = ""
    version: F32 = 0.0
    semantic_version: str = ""
    alias: str = ""


class CutoutParameters(Message):
    cutouts: list[CutoutParameters] = []
    count: U32 | None = None
    gray: F32 | None = None
    blur: F32 | None = None
    size_power: F32 | None = None


class GuidanceScheduleParameters(Message):
    duration: F32 = 0.0
    value: F32 = 0.0


class GuidanceInstanceParameters(Message):
    models: list[Model] = []
    guidance_strength: F32 | None = None
    schedule: list[GuidanceScheduleParameters] = []
    cutouts: CutoutParameters | None = None
    prompt: Prompt | None = None


class GuidanceParameters(Message):
    guidance_preset: GuidancePreset = GuidancePreset.GUIDANCE_PRESET_NONE
    instances: list[GuidanceInstanceParameters] = []


class TransformType(Message):
    """``diffusion`` is a sampler *name*: the enum's or one a plugin registered."""

    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {"type": ("diffusion", "upscaler")}

    diffusion: SamplerName | None = None
    upscaler: Upscaler | None = None


class StepParameter(Message):
    scaled_step: F32 = 0.0
    sampler: SamplerParameters | None = None
    schedule: ScheduleParameters | None = None
    guidance: GuidanceParameters | None = None


class ExtendedParameter(Message):
    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {
        "value": ("float_value", "int_value", "str_value"),
    }

    name: str = ""
    float_value: F32 | None = field(default=None, name="float")
    int_value: U64 | None = field(default=None, name="int")
    str_value: str | None = field(default=None, name="str")


class ExtendedParameters(Message):
    parameters: list[ExtendedParameter] = []


class HiresFixParameters(Message):
    enable: bool = False
    oos_fraction: F32 | None = None


class T2IAdapterParameter(Message):
    """Upstream field the stability-sdk always sends; sfumato does not act on it."""

    adapter_type: T2IAdapter = T2IAdapter.T2IADAPTER_NONE
    adapter_strength: F32 = 0.0
    adapter_init_type: T2IAdapterInit = T2IAdapterInit.T2IADAPTERINIT_IMAGE


class CAIParameters(Message):
    """Upstream content-credentials request; accepted and ignored."""

    model_metadata: CaiModelMetadata | None = None


class FineTuningParameters(Message):
    """Upstream hosted fine-tune reference; accepted, sfumato has no fine-tunes by id."""

    model_id: str = ""
    weight: F32 | None = None


class ImageParameters(Message):
    height: U64 | None = None
    width: U64 | None = None
    seed: list[U32] = []
    samples: U64 | None = None
    steps: U64 | None = None
    transform: TransformType | None = None
    parameters: list[StepParameter] = []
    masked_area_init: MaskedAreaInit | None = None
    weight_method: WeightMethod | None = None
    quantize: bool | None = None
    cai_parameters: CAIParameters | None = None
    adapter: T2IAdapterParameter | None = None
    fine_tuning_parameters: list[FineTuningParameters] = []
    extension: ExtendedParameters | None = None
    hires: HiresFixParameters | None = None
    tiling: bool | None = None


class Request(Message):
    engine_id: str = ""
    request_id: str = ""
    requested_type: ArtifactType = ArtifactType.ARTIFACT_NONE
    prompt: list[Prompt] = []
    image: ImageParameters | None = None
    accept: str = ""
    # google.protobuf.Struct: any JSON object (the SDK puts the style preset here).
    extras: dict[str, Any] | None = None


class AnswerMeta(Message):
    gpu_id: str | None = None
    cpu_id: str | None = None
    node_id: str | None = None
    engine_id: str | None = None


class Answer(Message):
    answer_id: str = ""
    request_id: str = ""
    received: U64 = 0
    created: U64 = 0
    meta: AnswerMeta | None = None
    artifacts: list[Artifact] = []


class AsyncHandle(Message):
    request_id: str = ""
    async_handle: str = ""


class AsyncStatus(Message):
    code: I32 = 0
    message: str = ""


class AsyncAnswer(Message):
    answer: list[Answer] = []
    complete: bool = False
    status: AsyncStatus | None = None


class AsyncCancelAnswer(Message):
    pass


class RpcStatus(Message):
    """google.rpc.Status, the error body; printed with all three fields."""

    _emit_unpopulated: ClassVar[bool] = True

    code: I32 = 0
    message: str = ""
    details: list[dict[str, Any]] = []


class EngineSampler(Message):
    sampler: SamplerName = DiffusionSampler.SAMPLER_DDIM.value
    supports_eta: bool = False
    supports_churn: bool = False
    supports_sigma_limits: bool = False
    supports_karras_rho: bool = False
    supported_noise_types: list[SamplerNoiseType] = []


class EngineInfo(Message):
    id: str = ""
    owner: str = ""
    ready: bool = False
    type: EngineType = EngineType.TEXT
    tokenizer: EngineTokenizer = EngineTokenizer.GPT2
    name: str = ""
    description: str = ""
    supported_samplers: list[EngineSampler] = []


class Engines(Message):
    engine: list[EngineInfo] = []


class ListEnginesRequest(Message):
    task_group: EngineTaskGroup | None = None
