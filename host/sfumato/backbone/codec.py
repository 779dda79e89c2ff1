"""Binary messages on the job backbone: jobs, finished images and job ends.

Every message is one format-version byte followed by a msgpack map decoded into a
``msgspec.Struct`` (tagged by ``kind``), so a reader validates shape and types
before building anything. No pickle: anyone who can write to the backbone could
otherwise run code in the workers.

Numpy arrays travel as ``{dtype, shape, data}`` with little-endian ``data``. Decoded
arrays are read-only views into the message bytes (no copy); engines must not
write into a job's inputs, which holds for the in-process path too.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

import msgspec
import numpy as np
from msgspec import Meta

from sfumato.errors import Code
from sfumato.jobs.cancel import CancelToken
from sfumato.jobs.job import GenerationJob, HiresSettings, LoraInput, SamplerSettings, WeightedText
from sfumato.jobs.outputs import OutputArtifact
from sfumato.jobs.state import ImageResult

FORMAT_VERSION = 1
_VERSION_PREFIX = bytes([FORMAT_VERSION])

DtypeName = Literal["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
ALLOWED_DTYPES: tuple[str, ...] = get_args(DtypeName)
# numpy's own limit is 32 or 64 depending on the version; nothing here needs more than 4.
MAX_ARRAY_DIMENSIONS = 32

Uint32 = Annotated[int, Meta(ge=0, le=2**32 - 1)]
NonNegative = Annotated[int, Meta(ge=0)]
ExtensionValue = bool | int | float | str


class _Part(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class _Message(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind"):
    pass


class ArrayPayload(_Part):
    dtype: DtypeName
    shape: Annotated[list[NonNegative], Meta(max_length=MAX_ARRAY_DIMENSIONS)]
    # memoryview, not bytes: msgspec then decodes it as a view into the message, without a copy.
    data: memoryview


class WeightedTextPayload(_Part):
    text: str
    weight: float
    tokens: list[Uint32] | None = None
    tokenizer_id: str | None = None


class LoraPayload(_Part):
    weight: float
    target: str
    safetensors: bytes | None
    tensors: list[ArrayPayload]
    key: str


class SamplerPayload(_Part):
    name: str
    cfg_scale: float
    eta: float | None
    churn: float | None
    churn_tmin: float | None
    churn_tmax: float | None
    sigma_min: float | None
    sigma_max: float | None
    karras_rho: float | None
    noise_type: str | None


class HiresPayload(_Part):
    enable: bool
    oos_fraction: float


class JobPayload(_Message, tag="job"):
    request_id: str
    engine_id: str
    width: NonNegative
    height: NonNegative
    seeds: list[Uint32]
    steps: NonNegative
    sampler: SamplerPayload
    prompt: list[WeightedTextPayload]
    negative_prompt: list[WeightedTextPayload]
    init_image: ArrayPayload | None
    mask: ArrayPayload | None
    composite_mask: ArrayPayload | None
    strength: float
    loras: list[LoraPayload]
    clip_guidance: float
    hires: HiresPayload | None
    tiling: bool
    extensions: dict[str, ExtensionValue]
    upscaler: str | None = None
    requested_type: str = "ARTIFACT_IMAGE"
    init_latent: ArrayPayload | None = None
    schedule_end: float = 0.0
    cfg_schedule: list[tuple[float, float]] = []
    clip_guidance_schedule: list[tuple[float, float]] = []
    clip_cutouts: NonNegative | None = None


class OutputPayload(_Part):
    type: str
    tensor: ArrayPayload | None = None
    tokens: list[tuple[Uint32, str]] | None = None
    tokenizer_id: str | None = None
    text: str | None = None
    mime: str = ""
    flagged: bool = False


class ImageResultPayload(_Message, tag="image"):
    index: NonNegative
    seed: Uint32
    png: bytes
    filtered: bool
    created_ms: int
    outputs: list[OutputPayload] = []


class JobEnd(_Message, tag="end"):
    """How a job finished: a google.rpc code and, unless OK, a message for the client."""

    code: Code
    message: str = ""


_encoder = msgspec.msgpack.Encoder()
_job_decoder = msgspec.msgpack.Decoder(JobPayload)
_result_decoder = msgspec.msgpack.Decoder(ImageResultPayload)
_end_decoder = msgspec.msgpack.Decoder(JobEnd)
_output_decoder = msgspec.msgpack.Decoder(ImageResultPayload | JobEnd)


# ---- framing ----


def _encode(payload: _Message, what: str) -> bytes:
    try:
        return _VERSION_PREFIX + _encoder.encode(payload)
    except (TypeError, OverflowError, msgspec.EncodeError) as exc:
        raise ValueError(f"cannot encode {what}: {exc}") from None


def _decode(data: bytes, decoder: msgspec.msgpack.Decoder[Any], what: str) -> Any:
    # Decoded arrays view the message; a mutable buffer could change them behind the engine's back.
    if not isinstance(data, bytes):
        data = bytes(data)
    if not data:
        raise ValueError(f"malformed {what}: the message is empty")
    version = data[0]
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{what} is in backbone format version {version}; this sfumato reads version {FORMAT_VERSION} "
            "(are API replicas and workers running different releases?)"
        )
    try:
        return decoder.decode(memoryview(data)[1:])
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValueError(f"malformed {what}: {exc}") from None


# ---- arrays ----


def _array_payload(array: Any, where: str) -> ArrayPayload:
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{where}: expected a numpy array, got {type(array).__name__}")
    if array.dtype.name not in ALLOWED_DTYPES:
        raise ValueError(f"{where}: dtype {array.dtype} is not allowed (allowed: {', '.join(ALLOWED_DTYPES)})")
    if array.ndim > MAX_ARRAY_DIMENSIONS:
        raise ValueError(f"{where}: {array.ndim} dimensions; at most {MAX_ARRAY_DIMENSIONS} are supported")
    shape = list(array.shape)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    # A view of the array's memory: msgspec copies it straight into the message.
    data = memoryview(np.ascontiguousarray(array))
    return ArrayPayload(dtype=array.dtype.name, shape=shape, data=data)  # type: ignore[arg-type]


def _array(payload: ArrayPayload, where: str) -> np.ndarray:
    dtype = np.dtype(payload.dtype).newbyteorder("<")
    # Python ints: a product of large dimensions must not wrap around.
    expected = math.prod(payload.shape) * dtype.itemsize
    if len(payload.data) != expected:
        raise ValueError(
            f"{where}: shape {payload.shape} of {payload.dtype} needs {expected} bytes of data, got {len(payload.data)}"
        )
    try:
        return np.frombuffer(payload.data, dtype=dtype).reshape(payload.shape)
    except ValueError as exc:  # e.g. a zero-size array with a dimension numpy cannot index
        raise ValueError(f"{where}: shape {payload.shape} is not one numpy can hold ({exc})") from None


def _check_image(array: np.ndarray, where: str) -> None:
    if array.dtype.name != "uint8" or array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"{where}: expected uint8 H×W×3 or H×W×4, got {array.dtype} {list(array.shape)}")


def _check_latent(array: np.ndarray, where: str) -> None:
    if array.dtype.name != "float32" or array.ndim != 3:
        raise ValueError(f"{where}: expected float32 C×h×w, got {array.dtype} {list(array.shape)}")


def _check_mask(array: np.ndarray, where: str) -> None:
    if array.dtype.name != "float32" or array.ndim != 2:
        raise ValueError(f"{where}: expected float32 H×W, got {array.dtype} {list(array.shape)}")


ArrayCheck = Callable[[np.ndarray, str], None]


def _optional_image_payload(array: Any, where: str, check: ArrayCheck) -> ArrayPayload | None:
    if array is None:
        return None
    payload = _array_payload(array, where)
    check(array, where)
    return payload


def _optional_image(payload: ArrayPayload | None, where: str, check: ArrayCheck) -> np.ndarray | None:
    if payload is None:
        return None
    array = _array(payload, where)
    check(array, where)
    return array


# ---- jobs ----


def _int(value: Any, where: str) -> int:
    # The wire's U64/I64 and numpy integers are int-like but not ints msgspec will encode.
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{where}: expected an integer, got {type(value).__name__}") from None


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _texts_payload(texts: list[WeightedText]) -> list[WeightedTextPayload]:
    return [
        WeightedTextPayload(
            text=fragment.text,
            weight=float(fragment.weight),
            tokens=None if fragment.tokens is None else list(fragment.tokens),
            tokenizer_id=fragment.tokenizer_id,
        )
        for fragment in texts
    ]


def _extension_value(name: str, value: Any) -> ExtensionValue:
    # Exact types: the wire's I64 and other subclasses are not something msgspec encodes.
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    raise ValueError(f"extensions[{name!r}]: values must be bool, int, float or str, got {type(value).__name__}")


def _extensions_payload(extensions: dict[str, Any]) -> dict[str, ExtensionValue]:
    for name in extensions:
        if type(name) is not str:
            raise ValueError(f"extensions: names must be str, got {name!r}")
    return {name: _extension_value(name, value) for name, value in extensions.items()}


def _seeds_payload(seeds: list[int]) -> list[int]:
    checked = [_int(seed, f"seeds[{position}]") for position, seed in enumerate(seeds)]
    for position, seed in enumerate(checked):
        if not 0 <= seed < 2**32:
            raise ValueError(f"seeds[{position}]: {seed} is not a uint32")
    return checked


def _lora_payload(lora: LoraInput, position: int) -> LoraPayload:
    where = f"loras[{position}]"
    return LoraPayload(
        weight=float(lora.weight),
        target=lora.target,
        safetensors=lora.safetensors,
        tensors=[_array_payload(tensor, f"{where}.tensors[{index}]") for index, tensor in enumerate(lora.tensors)],
        key=lora.key,
    )


def _sampler_payload(sampler: SamplerSettings) -> SamplerPayload:
    return SamplerPayload(
        name=sampler.name,
        cfg_scale=float(sampler.cfg_scale),
        eta=_optional_float(sampler.eta),
        churn=_optional_float(sampler.churn),
        churn_tmin=_optional_float(sampler.churn_tmin),
        churn_tmax=_optional_float(sampler.churn_tmax),
        sigma_min=_optional_float(sampler.sigma_min),
        sigma_max=_optional_float(sampler.sigma_max),
        karras_rho=_optional_float(sampler.karras_rho),
        noise_type=sampler.noise_type,
    )


def encode_job(job: GenerationJob) -> bytes:
    """The job as one backbone message; its cancel token stays behind (cancellation travels separately)."""
    payload = JobPayload(
        request_id=job.request_id,
        engine_id=job.engine_id,
        width=_int(job.width, "width"),
        height=_int(job.height, "height"),
        seeds=_seeds_payload(job.seeds),
        steps=_int(job.steps, "steps"),
        sampler=_sampler_payload(job.sampler),
        prompt=_texts_payload(job.prompt),
        negative_prompt=_texts_payload(job.negative_prompt),
        init_image=_optional_image_payload(job.init_image, "init_image", _check_image),
        mask=_optional_image_payload(job.mask, "mask", _check_mask),
        composite_mask=_optional_image_payload(job.composite_mask, "composite_mask", _check_mask),
        strength=float(job.strength),
        loras=[_lora_payload(lora, position) for position, lora in enumerate(job.loras)],
        clip_guidance=float(job.clip_guidance),
        hires=None if job.hires is None else HiresPayload(job.hires.enable, float(job.hires.oos_fraction)),
        tiling=job.tiling,
        extensions=_extensions_payload(job.extensions),
        upscaler=job.upscaler,
        requested_type=job.requested_type,
        init_latent=_optional_image_payload(job.init_latent, "init_latent", _check_latent),
        schedule_end=float(job.schedule_end),
        cfg_schedule=[(float(position), float(value)) for position, value in job.cfg_schedule],
        clip_guidance_schedule=[(float(share), float(value)) for share, value in job.clip_guidance_schedule],
        clip_cutouts=job.clip_cutouts,
    )
    return _encode(payload, "job")


def _lora(payload: LoraPayload, position: int) -> LoraInput:
    where = f"loras[{position}]"
    return LoraInput(
        weight=payload.weight,
        target=payload.target,
        safetensors=payload.safetensors,
        tensors=tuple(_array(tensor, f"{where}.tensors[{index}]") for index, tensor in enumerate(payload.tensors)),
        key=payload.key,
    )


def _sampler(payload: SamplerPayload) -> SamplerSettings:
    return SamplerSettings(
        name=payload.name,
        cfg_scale=payload.cfg_scale,
        eta=payload.eta,
        churn=payload.churn,
        churn_tmin=payload.churn_tmin,
        churn_tmax=payload.churn_tmax,
        sigma_min=payload.sigma_min,
        sigma_max=payload.sigma_max,
        karras_rho=payload.karras_rho,
        noise_type=payload.noise_type,
    )


def _texts(payloads: list[WeightedTextPayload]) -> list[WeightedText]:
    return [
        WeightedText(
            text=fragment.text,
            weight=fragment.weight,
            tokens=None if fragment.tokens is None else tuple(fragment.tokens),
            tokenizer_id=fragment.tokenizer_id,
        )
        for fragment in payloads
    ]


def decode_job(data: bytes) -> GenerationJob:
    """A job from :func:`encode_job`'s bytes, with a fresh cancel token.

    Raises ``ValueError`` for anything malformed: bad msgpack, wrong types, an unknown
    format version, disallowed dtypes or array data that does not fit its shape.
    """
    payload: JobPayload = _decode(data, _job_decoder, "job message")
    try:
        return GenerationJob(
            request_id=payload.request_id,
            engine_id=payload.engine_id,
            width=payload.width,
            height=payload.height,
            seeds=payload.seeds,
            steps=payload.steps,
            sampler=_sampler(payload.sampler),
            prompt=_texts(payload.prompt),
            negative_prompt=_texts(payload.negative_prompt),
            init_image=_optional_image(payload.init_image, "init_image", _check_image),
            mask=_optional_image(payload.mask, "mask", _check_mask),
            composite_mask=_optional_image(payload.composite_mask, "composite_mask", _check_mask),
            strength=payload.strength,
            loras=[_lora(lora, position) for position, lora in enumerate(payload.loras)],
            clip_guidance=payload.clip_guidance,
            hires=None if payload.hires is None else HiresSettings(payload.hires.enable, payload.hires.oos_fraction),
            tiling=payload.tiling,
            extensions=payload.extensions,
            upscaler=payload.upscaler,
            requested_type=payload.requested_type,
            init_latent=_optional_image(payload.init_latent, "init_latent", _check_latent),
            schedule_end=payload.schedule_end,
            cfg_schedule=tuple((position, value) for position, value in payload.cfg_schedule),
            clip_guidance_schedule=tuple((share, value) for share, value in payload.clip_guidance_schedule),
            clip_cutouts=payload.clip_cutouts,
            cancel=CancelToken(),
        )
    except ValueError as exc:
        raise ValueError(f"malformed job message: {exc}") from None


# ---- results and job ends ----


def encode_result(result: ImageResult) -> bytes:
    payload = ImageResultPayload(
        index=_int(result.index, "index"),
        seed=_int(result.seed, "seed"),
        png=result.png,
        filtered=result.filtered,
        created_ms=_int(result.created_ms, "created_ms"),
        outputs=[_output_payload(output, position) for position, output in enumerate(result.outputs)],
    )
    return _encode(payload, "image result")


def _output_payload(output: OutputArtifact, position: int) -> OutputPayload:
    where = f"outputs[{position}]"
    return OutputPayload(
        type=output.type,
        tensor=None if output.tensor is None else _array_payload(output.tensor, where + ".tensor"),
        tokens=None if output.tokens is None else [(_int(i, where), str(text)) for i, text in output.tokens],
        tokenizer_id=output.tokenizer_id,
        text=output.text,
        mime=output.mime,
        flagged=output.flagged,
    )


def _output(payload: OutputPayload, position: int) -> OutputArtifact:
    where = f"outputs[{position}]"
    return OutputArtifact(
        type=payload.type,
        tensor=None if payload.tensor is None else _array(payload.tensor, where + ".tensor"),
        tokens=None if payload.tokens is None else tuple((i, text) for i, text in payload.tokens),
        tokenizer_id=payload.tokenizer_id,
        text=payload.text,
        mime=payload.mime,
        flagged=payload.flagged,
    )


def _result(payload: ImageResultPayload) -> ImageResult:
    return ImageResult(
        index=payload.index,
        seed=payload.seed,
        png=payload.png,
        filtered=payload.filtered,
        created_ms=payload.created_ms,
        outputs=tuple(_output(output, position) for position, output in enumerate(payload.outputs)),
    )


def decode_result(data: bytes) -> ImageResult:
    return _result(_decode(data, _result_decoder, "image result message"))


def encode_job_end(end: JobEnd) -> bytes:
    return _encode(end, "job end")


def decode_job_end(data: bytes) -> JobEnd:
    end: JobEnd = _decode(data, _end_decoder, "job end message")
    return end


def decode_job_output(data: bytes) -> ImageResult | JobEnd:
    """Either message a job's output stream carries: a finished image or how the job ended."""
    message = _decode(data, _output_decoder, "job output message")
    return _result(message) if isinstance(message, ImageResultPayload) else message
