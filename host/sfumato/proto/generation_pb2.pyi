from google.protobuf import struct_pb2 as _struct_pb2
from sfumato.proto import tensors_pb2 as _tensors_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FinishReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NULL: _ClassVar[FinishReason]
    LENGTH: _ClassVar[FinishReason]
    STOP: _ClassVar[FinishReason]
    ERROR: _ClassVar[FinishReason]
    FILTER: _ClassVar[FinishReason]

class ArtifactType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTIFACT_NONE: _ClassVar[ArtifactType]
    ARTIFACT_IMAGE: _ClassVar[ArtifactType]
    ARTIFACT_VIDEO: _ClassVar[ArtifactType]
    ARTIFACT_TEXT: _ClassVar[ArtifactType]
    ARTIFACT_TOKENS: _ClassVar[ArtifactType]
    ARTIFACT_EMBEDDING: _ClassVar[ArtifactType]
    ARTIFACT_CLASSIFICATIONS: _ClassVar[ArtifactType]
    ARTIFACT_MASK: _ClassVar[ArtifactType]
    ARTIFACT_LATENT: _ClassVar[ArtifactType]
    ARTIFACT_TENSOR: _ClassVar[ArtifactType]
    ARTIFACT_LORA: _ClassVar[ArtifactType]

class GaussianDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_NONE: _ClassVar[GaussianDirection]
    DIRECTION_UP: _ClassVar[GaussianDirection]
    DIRECTION_DOWN: _ClassVar[GaussianDirection]

class ChannelSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_R: _ClassVar[ChannelSource]
    CHANNEL_G: _ClassVar[ChannelSource]
    CHANNEL_B: _ClassVar[ChannelSource]
    CHANNEL_A: _ClassVar[ChannelSource]
    CHANNEL_ZERO: _ClassVar[ChannelSource]
    CHANNEL_ONE: _ClassVar[ChannelSource]
    CHANNEL_DISCARD: _ClassVar[ChannelSource]

class RescaleMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESCALE_STRICT: _ClassVar[RescaleMode]
    RESCALE_CROP: _ClassVar[RescaleMode]
    RESCALE_FIT: _ClassVar[RescaleMode]

class LoraTarget(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LORA_UNET: _ClassVar[LoraTarget]
    LORA_TEXT_ENCODER: _ClassVar[LoraTarget]

class DiffusionSampler(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAMPLER_DDIM: _ClassVar[DiffusionSampler]
    SAMPLER_DDPM: _ClassVar[DiffusionSampler]
    SAMPLER_K_EULER: _ClassVar[DiffusionSampler]
    SAMPLER_K_EULER_ANCESTRAL: _ClassVar[DiffusionSampler]
    SAMPLER_K_HEUN: _ClassVar[DiffusionSampler]
    SAMPLER_K_DPM_2: _ClassVar[DiffusionSampler]
    SAMPLER_K_DPM_2_ANCESTRAL: _ClassVar[DiffusionSampler]
    SAMPLER_K_LMS: _ClassVar[DiffusionSampler]
    SAMPLER_K_DPMPP_2S_ANCESTRAL: _ClassVar[DiffusionSampler]
    SAMPLER_K_DPMPP_2M: _ClassVar[DiffusionSampler]
    SAMPLER_K_DPMPP_SDE: _ClassVar[DiffusionSampler]
    SAMPLER_DPMSOLVERPP_1ORDER: _ClassVar[DiffusionSampler]
    SAMPLER_DPMSOLVERPP_2ORDER: _ClassVar[DiffusionSampler]
    SAMPLER_DPMSOLVERPP_3ORDER: _ClassVar[DiffusionSampler]
    SAMPLER_DPM_FAST: _ClassVar[DiffusionSampler]
    SAMPLER_DPM_ADAPTIVE: _ClassVar[DiffusionSampler]
    SAMPLER_DPMSOLVERPP_2S_ANCESTRAL: _ClassVar[DiffusionSampler]
    SAMPLER_DPMSOLVERPP_SDE: _ClassVar[DiffusionSampler]
    SAMPLER_DPMSOLVERPP_2M: _ClassVar[DiffusionSampler]

class SamplerNoiseType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAMPLER_NOISE_NORMAL: _ClassVar[SamplerNoiseType]
    SAMPLER_NOISE_BROWNIAN: _ClassVar[SamplerNoiseType]

class Upscaler(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPSCALER_RGB: _ClassVar[Upscaler]
    UPSCALER_GFPGAN: _ClassVar[Upscaler]
    UPSCALER_ESRGAN: _ClassVar[Upscaler]

class GuidancePreset(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUIDANCE_PRESET_NONE: _ClassVar[GuidancePreset]
    GUIDANCE_PRESET_SIMPLE: _ClassVar[GuidancePreset]
    GUIDANCE_PRESET_FAST_BLUE: _ClassVar[GuidancePreset]
    GUIDANCE_PRESET_FAST_GREEN: _ClassVar[GuidancePreset]
    GUIDANCE_PRESET_SLOW: _ClassVar[GuidancePreset]
    GUIDANCE_PRESET_SLOWER: _ClassVar[GuidancePreset]
    GUIDANCE_PRESET_SLOWEST: _ClassVar[GuidancePreset]

class ModelArchitecture(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_ARCHITECTURE_NONE: _ClassVar[ModelArchitecture]
    MODEL_ARCHITECTURE_CLIP_VIT: _ClassVar[ModelArchitecture]
    MODEL_ARCHITECTURE_CLIP_RESNET: _ClassVar[ModelArchitecture]
    MODEL_ARCHITECTURE_LDM: _ClassVar[ModelArchitecture]

class MaskedAreaInit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MASKED_AREA_INIT_ZERO: _ClassVar[MaskedAreaInit]
    MASKED_AREA_INIT_RANDOM: _ClassVar[MaskedAreaInit]
    MASKED_AREA_INIT_ORIGINAL: _ClassVar[MaskedAreaInit]

class WeightMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEXT_ENCODER: _ClassVar[WeightMethod]
    CROSS_ATTENTION: _ClassVar[WeightMethod]

class T2IAdapter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    T2IADAPTER_NONE: _ClassVar[T2IAdapter]
    T2IADAPTER_SKETCH: _ClassVar[T2IAdapter]
    T2IADAPTER_DEPTH: _ClassVar[T2IAdapter]
    T2IADAPTER_CANNY: _ClassVar[T2IAdapter]

class T2IAdapterInit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    T2IADAPTERINIT_IMAGE: _ClassVar[T2IAdapterInit]
    T2IADAPTERINIT_ADAPTER_IMAGE: _ClassVar[T2IAdapterInit]

class CaiModelMetadata(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_METADATA_UNSPECIFIED: _ClassVar[CaiModelMetadata]
    MODEL_METADATA_SIGN_WITH_ENGINE_ID: _ClassVar[CaiModelMetadata]

class StageAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_ACTION_PASS: _ClassVar[StageAction]
    STAGE_ACTION_DISCARD: _ClassVar[StageAction]
    STAGE_ACTION_RETURN: _ClassVar[StageAction]
NULL: FinishReason
LENGTH: FinishReason
STOP: FinishReason
ERROR: FinishReason
FILTER: FinishReason
ARTIFACT_NONE: ArtifactType
ARTIFACT_IMAGE: ArtifactType
ARTIFACT_VIDEO: ArtifactType
ARTIFACT_TEXT: ArtifactType
ARTIFACT_TOKENS: ArtifactType
ARTIFACT_EMBEDDING: ArtifactType
ARTIFACT_CLASSIFICATIONS: ArtifactType
ARTIFACT_MASK: ArtifactType
ARTIFACT_LATENT: ArtifactType
ARTIFACT_TENSOR: ArtifactType
ARTIFACT_LORA: ArtifactType
DIRECTION_NONE: GaussianDirection
DIRECTION_UP: GaussianDirection
DIRECTION_DOWN: GaussianDirection
CHANNEL_R: ChannelSource
CHANNEL_G: ChannelSource
CHANNEL_B: ChannelSource
CHANNEL_A: ChannelSource
CHANNEL_ZERO: ChannelSource
CHANNEL_ONE: ChannelSource
CHANNEL_DISCARD: ChannelSource
RESCALE_STRICT: RescaleMode
RESCALE_CROP: RescaleMode
RESCALE_FIT: RescaleMode
LORA_UNET: LoraTarget
LORA_TEXT_ENCODER: LoraTarget
SAMPLER_DDIM: DiffusionSampler
SAMPLER_DDPM: DiffusionSampler
SAMPLER_K_EULER: DiffusionSampler
SAMPLER_K_EULER_ANCESTRAL: DiffusionSampler
SAMPLER_K_HEUN: DiffusionSampler
SAMPLER_K_DPM_2: DiffusionSampler
SAMPLER_K_DPM_2_ANCESTRAL: DiffusionSampler
SAMPLER_K_LMS: DiffusionSampler
SAMPLER_K_DPMPP_2S_ANCESTRAL: DiffusionSampler
SAMPLER_K_DPMPP_2M: DiffusionSampler
SAMPLER_K_DPMPP_SDE: DiffusionSampler
SAMPLER_DPMSOLVERPP_1ORDER: DiffusionSampler
SAMPLER_DPMSOLVERPP_2ORDER: DiffusionSampler
SAMPLER_DPMSOLVERPP_3ORDER: DiffusionSampler
SAMPLER_DPM_FAST: DiffusionSampler
SAMPLER_DPM_ADAPTIVE: DiffusionSampler
SAMPLER_DPMSOLVERPP_2S_ANCESTRAL: DiffusionSampler
SAMPLER_DPMSOLVERPP_SDE: DiffusionSampler
SAMPLER_DPMSOLVERPP_2M: DiffusionSampler
SAMPLER_NOISE_NORMAL: SamplerNoiseType
SAMPLER_NOISE_BROWNIAN: SamplerNoiseType
UPSCALER_RGB: Upscaler
UPSCALER_GFPGAN: Upscaler
UPSCALER_ESRGAN: Upscaler
GUIDANCE_PRESET_NONE: GuidancePreset
GUIDANCE_PRESET_SIMPLE: GuidancePreset
GUIDANCE_PRESET_FAST_BLUE: GuidancePreset
GUIDANCE_PRESET_FAST_GREEN: GuidancePreset
GUIDANCE_PRESET_SLOW: GuidancePreset
GUIDANCE_PRESET_SLOWER: GuidancePreset
GUIDANCE_PRESET_SLOWEST: GuidancePreset
MODEL_ARCHITECTURE_NONE: ModelArchitecture
MODEL_ARCHITECTURE_CLIP_VIT: ModelArchitecture
MODEL_ARCHITECTURE_CLIP_RESNET: ModelArchitecture
MODEL_ARCHITECTURE_LDM: ModelArchitecture
MASKED_AREA_INIT_ZERO: MaskedAreaInit
MASKED_AREA_INIT_RANDOM: MaskedAreaInit
MASKED_AREA_INIT_ORIGINAL: MaskedAreaInit
TEXT_ENCODER: WeightMethod
CROSS_ATTENTION: WeightMethod
T2IADAPTER_NONE: T2IAdapter
T2IADAPTER_SKETCH: T2IAdapter
T2IADAPTER_DEPTH: T2IAdapter
T2IADAPTER_CANNY: T2IAdapter
T2IADAPTERINIT_IMAGE: T2IAdapterInit
T2IADAPTERINIT_ADAPTER_IMAGE: T2IAdapterInit
MODEL_METADATA_UNSPECIFIED: CaiModelMetadata
MODEL_METADATA_SIGN_WITH_ENGINE_ID: CaiModelMetadata
STAGE_ACTION_PASS: StageAction
STAGE_ACTION_DISCARD: StageAction
STAGE_ACTION_RETURN: StageAction

class Token(_message.Message):
    __slots__ = ("text", "id")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    text: str
    id: int
    def __init__(self, text: _Optional[str] = ..., id: _Optional[int] = ...) -> None: ...

class Tokens(_message.Message):
    __slots__ = ("tokens", "tokenizer_id")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_ID_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[Token]
    tokenizer_id: str
    def __init__(self, tokens: _Optional[_Iterable[_Union[Token, _Mapping]]] = ..., tokenizer_id: _Optional[str] = ...) -> None: ...

class Lora(_message.Message):
    __slots__ = ("target", "tensors")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TENSORS_FIELD_NUMBER: _ClassVar[int]
    target: LoraTarget
    tensors: _containers.RepeatedCompositeFieldContainer[_tensors_pb2.Tensor]
    def __init__(self, target: _Optional[_Union[LoraTarget, str]] = ..., tensors: _Optional[_Iterable[_Union[_tensors_pb2.Tensor, _Mapping]]] = ...) -> None: ...

class ImageAdjustment_Gaussian(_message.Message):
    __slots__ = ("sigma", "direction")
    SIGMA_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    sigma: float
    direction: GaussianDirection
    def __init__(self, sigma: _Optional[float] = ..., direction: _Optional[_Union[GaussianDirection, str]] = ...) -> None: ...

class ImageAdjustment_Invert(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ImageAdjustment_Levels(_message.Message):
    __slots__ = ("input_low", "input_high", "output_low", "output_high")
    INPUT_LOW_FIELD_NUMBER: _ClassVar[int]
    INPUT_HIGH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_LOW_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_HIGH_FIELD_NUMBER: _ClassVar[int]
    input_low: float
    input_high: float
    output_low: float
    output_high: float
    def __init__(self, input_low: _Optional[float] = ..., input_high: _Optional[float] = ..., output_low: _Optional[float] = ..., output_high: _Optional[float] = ...) -> None: ...

class ImageAdjustment_Channels(_message.Message):
    __slots__ = ("r", "g", "b", "a")
    R_FIELD_NUMBER: _ClassVar[int]
    G_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    r: ChannelSource
    g: ChannelSource
    b: ChannelSource
    a: ChannelSource
    def __init__(self, r: _Optional[_Union[ChannelSource, str]] = ..., g: _Optional[_Union[ChannelSource, str]] = ..., b: _Optional[_Union[ChannelSource, str]] = ..., a: _Optional[_Union[ChannelSource, str]] = ...) -> None: ...

class ImageAdjustment_Rescale(_message.Message):
    __slots__ = ("height", "width", "mode", "algorithm_hint")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_HINT_FIELD_NUMBER: _ClassVar[int]
    height: int
    width: int
    mode: RescaleMode
    algorithm_hint: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, height: _Optional[int] = ..., width: _Optional[int] = ..., mode: _Optional[_Union[RescaleMode, str]] = ..., algorithm_hint: _Optional[_Iterable[str]] = ...) -> None: ...

class ImageAdjustment_Crop(_message.Message):
    __slots__ = ("top", "left", "width", "height")
    TOP_FIELD_NUMBER: _ClassVar[int]
    LEFT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    top: int
    left: int
    width: int
    height: int
    def __init__(self, top: _Optional[int] = ..., left: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class ImageAdjustment(_message.Message):
    __slots__ = ("blur", "invert", "levels", "channels", "rescale", "crop")
    BLUR_FIELD_NUMBER: _ClassVar[int]
    INVERT_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    RESCALE_FIELD_NUMBER: _ClassVar[int]
    CROP_FIELD_NUMBER: _ClassVar[int]
    blur: ImageAdjustment_Gaussian
    invert: ImageAdjustment_Invert
    levels: ImageAdjustment_Levels
    channels: ImageAdjustment_Channels
    rescale: ImageAdjustment_Rescale
    crop: ImageAdjustment_Crop
    def __init__(self, blur: _Optional[_Union[ImageAdjustment_Gaussian, _Mapping]] = ..., invert: _Optional[_Union[ImageAdjustment_Invert, _Mapping]] = ..., levels: _Optional[_Union[ImageAdjustment_Levels, _Mapping]] = ..., channels: _Optional[_Union[ImageAdjustment_Channels, _Mapping]] = ..., rescale: _Optional[_Union[ImageAdjustment_Rescale, _Mapping]] = ..., crop: _Optional[_Union[ImageAdjustment_Crop, _Mapping]] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("id", "type", "mime", "magic", "binary", "text", "tokens", "tensor", "lora", "index", "finish_reason", "seed", "uuid", "size", "adjustments", "post_adjustments")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MIME_FIELD_NUMBER: _ClassVar[int]
    MAGIC_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    LORA_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENTS_FIELD_NUMBER: _ClassVar[int]
    POST_ADJUSTMENTS_FIELD_NUMBER: _ClassVar[int]
    id: int
    type: ArtifactType
    mime: str
    magic: str
    binary: bytes
    text: str
    tokens: Tokens
    tensor: _tensors_pb2.Tensor
    lora: Lora
    index: int
    finish_reason: FinishReason
    seed: int
    uuid: str
    size: int
    adjustments: _containers.RepeatedCompositeFieldContainer[ImageAdjustment]
    post_adjustments: _containers.RepeatedCompositeFieldContainer[ImageAdjustment]
    def __init__(self, id: _Optional[int] = ..., type: _Optional[_Union[ArtifactType, str]] = ..., mime: _Optional[str] = ..., magic: _Optional[str] = ..., binary: _Optional[bytes] = ..., text: _Optional[str] = ..., tokens: _Optional[_Union[Tokens, _Mapping]] = ..., tensor: _Optional[_Union[_tensors_pb2.Tensor, _Mapping]] = ..., lora: _Optional[_Union[Lora, _Mapping]] = ..., index: _Optional[int] = ..., finish_reason: _Optional[_Union[FinishReason, str]] = ..., seed: _Optional[int] = ..., uuid: _Optional[str] = ..., size: _Optional[int] = ..., adjustments: _Optional[_Iterable[_Union[ImageAdjustment, _Mapping]]] = ..., post_adjustments: _Optional[_Iterable[_Union[ImageAdjustment, _Mapping]]] = ...) -> None: ...

class PromptParameters(_message.Message):
    __slots__ = ("init", "weight")
    INIT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    init: bool
    weight: float
    def __init__(self, init: _Optional[bool] = ..., weight: _Optional[float] = ...) -> None: ...

class Prompt(_message.Message):
    __slots__ = ("parameters", "text", "tokens", "artifact")
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    parameters: PromptParameters
    text: str
    tokens: Tokens
    artifact: Artifact
    def __init__(self, parameters: _Optional[_Union[PromptParameters, _Mapping]] = ..., text: _Optional[str] = ..., tokens: _Optional[_Union[Tokens, _Mapping]] = ..., artifact: _Optional[_Union[Artifact, _Mapping]] = ...) -> None: ...

class SigmaParameters(_message.Message):
    __slots__ = ("sigma_min", "sigma_max", "karras_rho")
    SIGMA_MIN_FIELD_NUMBER: _ClassVar[int]
    SIGMA_MAX_FIELD_NUMBER: _ClassVar[int]
    KARRAS_RHO_FIELD_NUMBER: _ClassVar[int]
    sigma_min: float
    sigma_max: float
    karras_rho: float
    def __init__(self, sigma_min: _Optional[float] = ..., sigma_max: _Optional[float] = ..., karras_rho: _Optional[float] = ...) -> None: ...

class ChurnSettings(_message.Message):
    __slots__ = ("churn", "churn_tmin", "churn_tmax")
    CHURN_FIELD_NUMBER: _ClassVar[int]
    CHURN_TMIN_FIELD_NUMBER: _ClassVar[int]
    CHURN_TMAX_FIELD_NUMBER: _ClassVar[int]
    churn: float
    churn_tmin: float
    churn_tmax: float
    def __init__(self, churn: _Optional[float] = ..., churn_tmin: _Optional[float] = ..., churn_tmax: _Optional[float] = ...) -> None: ...

class SamplerParameters(_message.Message):
    __slots__ = ("eta", "sampling_steps", "latent_channels", "downsampling_factor", "cfg_scale", "init_noise_scale", "step_noise_scale", "churn", "sigma", "noise_type")
    ETA_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_STEPS_FIELD_NUMBER: _ClassVar[int]
    LATENT_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    DOWNSAMPLING_FACTOR_FIELD_NUMBER: _ClassVar[int]
    CFG_SCALE_FIELD_NUMBER: _ClassVar[int]
    INIT_NOISE_SCALE_FIELD_NUMBER: _ClassVar[int]
    STEP_NOISE_SCALE_FIELD_NUMBER: _ClassVar[int]
    CHURN_FIELD_NUMBER: _ClassVar[int]
    SIGMA_FIELD_NUMBER: _ClassVar[int]
    NOISE_TYPE_FIELD_NUMBER: _ClassVar[int]
    eta: float
    sampling_steps: int
    latent_channels: int
    downsampling_factor: int
    cfg_scale: float
    init_noise_scale: float
    step_noise_scale: float
    churn: ChurnSettings
    sigma: SigmaParameters
    noise_type: SamplerNoiseType
    def __init__(self, eta: _Optional[float] = ..., sampling_steps: _Optional[int] = ..., latent_channels: _Optional[int] = ..., downsampling_factor: _Optional[int] = ..., cfg_scale: _Optional[float] = ..., init_noise_scale: _Optional[float] = ..., step_noise_scale: _Optional[float] = ..., churn: _Optional[_Union[ChurnSettings, _Mapping]] = ..., sigma: _Optional[_Union[SigmaParameters, _Mapping]] = ..., noise_type: _Optional[_Union[SamplerNoiseType, str]] = ...) -> None: ...

class ScheduleParameters(_message.Message):
    __slots__ = ("start", "end", "value")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    start: float
    end: float
    value: float
    def __init__(self, start: _Optional[float] = ..., end: _Optional[float] = ..., value: _Optional[float] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("architecture", "publisher", "dataset", "version", "semantic_version", "alias")
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    PUBLISHER_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    architecture: ModelArchitecture
    publisher: str
    dataset: str
    version: float
    semantic_version: str
    alias: str
    def __init__(self, architecture: _Optional[_Union[ModelArchitecture, str]] = ..., publisher: _Optional[str] = ..., dataset: _Optional[str] = ..., version: _Optional[float] = ..., semantic_version: _Optional[str] = ..., alias: _Optional[str] = ...) -> None: ...

class CutoutParameters(_message.Message):
    __slots__ = ("cutouts", "count", "gray", "blur", "size_power")
    CUTOUTS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    GRAY_FIELD_NUMBER: _ClassVar[int]
    BLUR_FIELD_NUMBER: _ClassVar[int]
    SIZE_POWER_FIELD_NUMBER: _ClassVar[int]
    cutouts: _containers.RepeatedCompositeFieldContainer[CutoutParameters]
    count: int
    gray: float
    blur: float
    size_power: float
    def __init__(self, cutouts: _Optional[_Iterable[_Union[CutoutParameters, _Mapping]]] = ..., count: _Optional[int] = ..., gray: _Optional[float] = ..., blur: _Optional[float] = ..., size_power: _Optional[float] = ...) -> None: ...

class GuidanceScheduleParameters(_message.Message):
    __slots__ = ("duration", "value")
    DURATION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    duration: float
    value: float
    def __init__(self, duration: _Optional[float] = ..., value: _Optional[float] = ...) -> None: ...

class GuidanceInstanceParameters(_message.Message):
    __slots__ = ("models", "guidance_strength", "schedule", "cutouts", "prompt")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    CUTOUTS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    guidance_strength: float
    schedule: _containers.RepeatedCompositeFieldContainer[GuidanceScheduleParameters]
    cutouts: CutoutParameters
    prompt: Prompt
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ..., guidance_strength: _Optional[float] = ..., schedule: _Optional[_Iterable[_Union[GuidanceScheduleParameters, _Mapping]]] = ..., cutouts: _Optional[_Union[CutoutParameters, _Mapping]] = ..., prompt: _Optional[_Union[Prompt, _Mapping]] = ...) -> None: ...

class GuidanceParameters(_message.Message):
    __slots__ = ("guidance_preset", "instances")
    GUIDANCE_PRESET_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    guidance_preset: GuidancePreset
    instances: _containers.RepeatedCompositeFieldContainer[GuidanceInstanceParameters]
    def __init__(self, guidance_preset: _Optional[_Union[GuidancePreset, str]] = ..., instances: _Optional[_Iterable[_Union[GuidanceInstanceParameters, _Mapping]]] = ...) -> None: ...

class TransformType(_message.Message):
    __slots__ = ("diffusion", "upscaler")
    DIFFUSION_FIELD_NUMBER: _ClassVar[int]
    UPSCALER_FIELD_NUMBER: _ClassVar[int]
    diffusion: DiffusionSampler
    upscaler: Upscaler
    def __init__(self, diffusion: _Optional[_Union[DiffusionSampler, str]] = ..., upscaler: _Optional[_Union[Upscaler, str]] = ...) -> None: ...

class StepParameter(_message.Message):
    __slots__ = ("scaled_step", "sampler", "schedule", "guidance")
    SCALED_STEP_FIELD_NUMBER: _ClassVar[int]
    SAMPLER_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    scaled_step: float
    sampler: SamplerParameters
    schedule: ScheduleParameters
    guidance: GuidanceParameters
    def __init__(self, scaled_step: _Optional[float] = ..., sampler: _Optional[_Union[SamplerParameters, _Mapping]] = ..., schedule: _Optional[_Union[ScheduleParameters, _Mapping]] = ..., guidance: _Optional[_Union[GuidanceParameters, _Mapping]] = ...) -> None: ...

class ExtendedParameter(_message.Message):
    __slots__ = ("name", "float", "int", "str")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FLOAT_FIELD_NUMBER: _ClassVar[int]
    INT_FIELD_NUMBER: _ClassVar[int]
    STR_FIELD_NUMBER: _ClassVar[int]
    name: str
    float: float
    int: int
    str: str
    def __init__(self, name: _Optional[str] = ..., float: _Optional[float] = ..., int: _Optional[int] = ..., str: _Optional[str] = ...) -> None: ...

class ExtendedParameters(_message.Message):
    __slots__ = ("parameters",)
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.RepeatedCompositeFieldContainer[ExtendedParameter]
    def __init__(self, parameters: _Optional[_Iterable[_Union[ExtendedParameter, _Mapping]]] = ...) -> None: ...

class HiresFixParameters(_message.Message):
    __slots__ = ("enable", "oos_fraction")
    ENABLE_FIELD_NUMBER: _ClassVar[int]
    OOS_FRACTION_FIELD_NUMBER: _ClassVar[int]
    enable: bool
    oos_fraction: float
    def __init__(self, enable: _Optional[bool] = ..., oos_fraction: _Optional[float] = ...) -> None: ...

class T2IAdapterParameter(_message.Message):
    __slots__ = ("adapter_type", "adapter_strength", "adapter_init_type")
    ADAPTER_TYPE_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_INIT_TYPE_FIELD_NUMBER: _ClassVar[int]
    adapter_type: T2IAdapter
    adapter_strength: float
    adapter_init_type: T2IAdapterInit
    def __init__(self, adapter_type: _Optional[_Union[T2IAdapter, str]] = ..., adapter_strength: _Optional[float] = ..., adapter_init_type: _Optional[_Union[T2IAdapterInit, str]] = ...) -> None: ...

class CAIParameters(_message.Message):
    __slots__ = ("model_metadata",)
    MODEL_METADATA_FIELD_NUMBER: _ClassVar[int]
    model_metadata: CaiModelMetadata
    def __init__(self, model_metadata: _Optional[_Union[CaiModelMetadata, str]] = ...) -> None: ...

class FineTuningParameters(_message.Message):
    __slots__ = ("model_id", "weight")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    weight: float
    def __init__(self, model_id: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class ImageParameters(_message.Message):
    __slots__ = ("height", "width", "seed", "samples", "steps", "transform", "parameters", "masked_area_init", "weight_method", "quantize", "cai_parameters", "adapter", "fine_tuning_parameters", "extension", "hires", "tiling")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    MASKED_AREA_INIT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_METHOD_FIELD_NUMBER: _ClassVar[int]
    QUANTIZE_FIELD_NUMBER: _ClassVar[int]
    CAI_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    FINE_TUNING_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    EXTENSION_FIELD_NUMBER: _ClassVar[int]
    HIRES_FIELD_NUMBER: _ClassVar[int]
    TILING_FIELD_NUMBER: _ClassVar[int]
    height: int
    width: int
    seed: _containers.RepeatedScalarFieldContainer[int]
    samples: int
    steps: int
    transform: TransformType
    parameters: _containers.RepeatedCompositeFieldContainer[StepParameter]
    masked_area_init: MaskedAreaInit
    weight_method: WeightMethod
    quantize: bool
    cai_parameters: CAIParameters
    adapter: T2IAdapterParameter
    fine_tuning_parameters: _containers.RepeatedCompositeFieldContainer[FineTuningParameters]
    extension: ExtendedParameters
    hires: HiresFixParameters
    tiling: bool
    def __init__(self, height: _Optional[int] = ..., width: _Optional[int] = ..., seed: _Optional[_Iterable[int]] = ..., samples: _Optional[int] = ..., steps: _Optional[int] = ..., transform: _Optional[_Union[TransformType, _Mapping]] = ..., parameters: _Optional[_Iterable[_Union[StepParameter, _Mapping]]] = ..., masked_area_init: _Optional[_Union[MaskedAreaInit, str]] = ..., weight_method: _Optional[_Union[WeightMethod, str]] = ..., quantize: _Optional[bool] = ..., cai_parameters: _Optional[_Union[CAIParameters, _Mapping]] = ..., adapter: _Optional[_Union[T2IAdapterParameter, _Mapping]] = ..., fine_tuning_parameters: _Optional[_Iterable[_Union[FineTuningParameters, _Mapping]]] = ..., extension: _Optional[_Union[ExtendedParameters, _Mapping]] = ..., hires: _Optional[_Union[HiresFixParameters, _Mapping]] = ..., tiling: _Optional[bool] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("engine_id", "request_id", "requested_type", "prompt", "image", "accept", "extras")
    ENGINE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    EXTRAS_FIELD_NUMBER: _ClassVar[int]
    engine_id: str
    request_id: str
    requested_type: ArtifactType
    prompt: _containers.RepeatedCompositeFieldContainer[Prompt]
    image: ImageParameters
    accept: str
    extras: _struct_pb2.Struct
    def __init__(self, engine_id: _Optional[str] = ..., request_id: _Optional[str] = ..., requested_type: _Optional[_Union[ArtifactType, str]] = ..., prompt: _Optional[_Iterable[_Union[Prompt, _Mapping]]] = ..., image: _Optional[_Union[ImageParameters, _Mapping]] = ..., accept: _Optional[str] = ..., extras: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AnswerMeta(_message.Message):
    __slots__ = ("gpu_id", "cpu_id", "node_id", "engine_id")
    GPU_ID_FIELD_NUMBER: _ClassVar[int]
    CPU_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ENGINE_ID_FIELD_NUMBER: _ClassVar[int]
    gpu_id: str
    cpu_id: str
    node_id: str
    engine_id: str
    def __init__(self, gpu_id: _Optional[str] = ..., cpu_id: _Optional[str] = ..., node_id: _Optional[str] = ..., engine_id: _Optional[str] = ...) -> None: ...

class Answer(_message.Message):
    __slots__ = ("answer_id", "request_id", "received", "created", "meta", "artifacts")
    ANSWER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    answer_id: str
    request_id: str
    received: int
    created: int
    meta: AnswerMeta
    artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    def __init__(self, answer_id: _Optional[str] = ..., request_id: _Optional[str] = ..., received: _Optional[int] = ..., created: _Optional[int] = ..., meta: _Optional[_Union[AnswerMeta, _Mapping]] = ..., artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ...) -> None: ...

class OnStatus(_message.Message):
    __slots__ = ("reason", "target", "action")
    REASON_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    reason: _containers.RepeatedScalarFieldContainer[FinishReason]
    target: str
    action: _containers.RepeatedScalarFieldContainer[StageAction]
    def __init__(self, reason: _Optional[_Iterable[_Union[FinishReason, str]]] = ..., target: _Optional[str] = ..., action: _Optional[_Iterable[_Union[StageAction, str]]] = ...) -> None: ...

class Stage(_message.Message):
    __slots__ = ("id", "request", "on_status")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    ON_STATUS_FIELD_NUMBER: _ClassVar[int]
    id: str
    request: Request
    on_status: _containers.RepeatedCompositeFieldContainer[OnStatus]
    def __init__(self, id: _Optional[str] = ..., request: _Optional[_Union[Request, _Mapping]] = ..., on_status: _Optional[_Iterable[_Union[OnStatus, _Mapping]]] = ...) -> None: ...

class ChainRequest(_message.Message):
    __slots__ = ("request_id", "stage")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    stage: _containers.RepeatedCompositeFieldContainer[Stage]
    def __init__(self, request_id: _Optional[str] = ..., stage: _Optional[_Iterable[_Union[Stage, _Mapping]]] = ...) -> None: ...

class AsyncStatus(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class AsyncAnswer(_message.Message):
    __slots__ = ("answer", "complete", "status")
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    answer: _containers.RepeatedCompositeFieldContainer[Answer]
    complete: bool
    status: AsyncStatus
    def __init__(self, answer: _Optional[_Iterable[_Union[Answer, _Mapping]]] = ..., complete: _Optional[bool] = ..., status: _Optional[_Union[AsyncStatus, _Mapping]] = ...) -> None: ...

class AsyncHandle(_message.Message):
    __slots__ = ("request_id", "async_handle")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ASYNC_HANDLE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    async_handle: str
    def __init__(self, request_id: _Optional[str] = ..., async_handle: _Optional[str] = ...) -> None: ...

class AsyncCancelAnswer(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
