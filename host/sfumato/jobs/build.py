"""Request (wire) → GenerationJob, validated against the engine (API.md §4).

Blocking (decodes images, runs adjustments): call it off the event loop.
"""

from __future__ import annotations

import math
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from sfumato import _ops
from sfumato.config import LimitSettings
from sfumato.engines import EngineDescription, EngineLimits
from sfumato.errors import Code, RpcError, invalid, unimplemented
from sfumato.images import mask_plane, to_rgb
from sfumato.jobs import outputs
from sfumato.jobs.cancel import CancelToken
from sfumato.jobs.job import GenerationJob, HiresSettings, SamplerSettings
from sfumato.jobs.prompts import split_prompts
from sfumato.jobs.step_params import DEFAULT_CFG_SCALE, DEFAULT_STRENGTH_WITH_INIT, StepValues, resolve_step_values
from sfumato.jobs.upscale import refuse_sampler_values, requested_upscaler, upscale_size
from sfumato.records import AdjustmentSpec, ExtensionParam, SamplerSpec
from sfumato.wire_codec.errors import client_text

UINT32 = 2**32
# C0, DEL, C1 and the Unicode line/paragraph separators: anything that could break a log line.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
IMAGE_TYPES = {None, "ARTIFACT_NONE", "ARTIFACT_IMAGE"}


def _enum(value: Any) -> str | None:
    return None if value is None else getattr(value, "value", value)


def build_job(
    request: Any,
    *,
    engine_id: str,
    description: EngineDescription,
    limits: EngineLimits,
    samplers: Mapping[str, SamplerSpec],
    input_limits: LimitSettings,
    adjustments: Mapping[str, AdjustmentSpec],
    test_controls: bool = False,
    cancel: CancelToken | None = None,
) -> GenerationJob:
    request_id = _request_id(request.request_id, input_limits)
    requested = _requested_type(_enum(request.requested_type), description, engine_id)
    image = request.image
    if image is None:
        image = _EmptyImageParameters()

    cancel = cancel or CancelToken()
    split = split_prompts(request.prompt or (), limits=input_limits, adjustments=adjustments, cancel=cancel)
    if split.mask is not None and split.init_image is None:
        raise invalid("prompt: a mask (ARTIFACT_MASK) needs an init image (ARTIFACT_IMAGE) to apply to")
    if split.init_image is not None and not (description.supports_init_image and description.accepts("init_image")):
        raise unimplemented(f"engine {engine_id!r} does not accept init images")
    if split.mask is not None and not (description.supports_mask and description.accepts("mask")):
        raise unimplemented(f"engine {engine_id!r} does not accept masks")
    if split.loras and not description.supports_lora:
        raise unimplemented(f"engine {engine_id!r} does not accept LoRA artifacts")
    if split.init_latent is not None and split.init_image is not None:
        raise invalid(f"{split.init_latent_path}: send an init image or an initial latent, not both")
    if requested == outputs.MASK and split.mask is None:
        raise invalid("requestedType: ARTIFACT_MASK returns the final composite mask; this request sends no mask (ARTIFACT_MASK prompt)")
    _check_token_prompts(split.positive + split.negative, description, engine_id)

    upscaler = requested_upscaler(image, description, engine_id)
    if upscaler is not None:
        width, height = upscale_size(image, split.init_image, description, limits)
    else:
        width, height = _size(image, split.init_image, description, limits, latent_size(split, description, engine_id))
    seeds = _seeds(image, limits, input_limits)
    steps = _steps(image, description, limits)
    # An upscale job runs no sampler: it keeps the engine's default name.
    sampler_name = description.default_sampler if upscaler else _sampler_name(image, description, samplers, engine_id)
    values = resolve_step_values(image.parameters or ())
    _check_uses(request, image, values, description, engine_id)
    sampler = SamplerSettings(
        name=sampler_name,
        cfg_scale=DEFAULT_CFG_SCALE if values.cfg_scale is None else values.cfg_scale,
        eta=values.eta,
        churn=values.churn,
        churn_tmin=values.churn_tmin,
        churn_tmax=values.churn_tmax,
        sigma_min=values.sigma_min,
        sigma_max=values.sigma_max,
        karras_rho=values.karras_rho,
        noise_type=values.noise_type,
    )
    if upscaler is not None:
        refuse_sampler_values(values, upscaler)
    else:
        _check_sampler_support(sampler, samplers[sampler_name], values.paths)

    init_image = mask = composite_mask = None
    if split.init_image is not None and upscaler is not None:
        init_image = to_rgb(split.init_image)  # the upscaler's input, at its own size
    elif split.init_image is not None:
        init_image = _fit(to_rgb(split.init_image), width, height, "lanczos")
    if split.mask is not None:
        mask = mask_plane(_fit(split.mask, width, height, "bilinear"))
        composite_mask = mask_plane(_fit(split.composite_mask, width, height, "bilinear"))
    has_init = init_image is not None or split.init_latent is not None
    if values.schedule_start is not None:
        strength = values.schedule_start
    else:
        strength = DEFAULT_STRENGTH_WITH_INIT if has_init else 1.0
    schedule_end = _schedule_end(values, strength if has_init else 1.0, steps)

    clip_guidance = values.guidance_strength or 0.0
    if clip_guidance > 0 and not description.supports_clip_guidance:
        raise unimplemented(
            f"guidanceStrength {clip_guidance}: CLIP guidance is not implemented by engine {engine_id!r}; send 0 or omit it"
        )

    hires = None
    if image.hires is not None and image.hires.enable:
        oos = 0.0 if image.hires.oos_fraction is None else float(image.hires.oos_fraction)
        if not (math.isfinite(oos) and 0.0 <= oos <= 1.0):
            raise invalid(f"image.hires.oosFraction: must be in 0..1, got {oos}")
        if not description.supports_hires:
            raise unimplemented(f"image.hires: engine {engine_id!r} has no hires fix")
        hires = HiresSettings(enable=True, oos_fraction=oos)
    tiling = bool(image.tiling)
    if tiling and not description.supports_tiling:
        raise unimplemented(f"image.tiling: engine {engine_id!r} cannot make tileable images")

    return GenerationJob(
        request_id=request_id,
        engine_id=engine_id,
        width=width,
        height=height,
        seeds=seeds,
        steps=steps,
        sampler=sampler,
        prompt=split.positive,
        negative_prompt=split.negative,
        init_image=init_image,
        mask=mask,
        composite_mask=composite_mask,
        strength=strength,
        loras=split.loras,
        clip_guidance=clip_guidance,
        clip_guidance_schedule=values.guidance_schedule or (),
        clip_cutouts=values.guidance_cutouts if clip_guidance > 0 else None,
        hires=hires,
        tiling=tiling,
        extensions=_extensions(image, description.extensions, engine_id, test_controls),
        cancel=cancel,
        requested_type=requested,
        init_latent=split.init_latent,
        schedule_end=schedule_end,
        cfg_schedule=values.cfg_schedule,
        upscaler=upscaler,
    )


def _requested_type(requested: str | None, description: EngineDescription, engine_id: str) -> str:
    if requested in IMAGE_TYPES:
        return outputs.IMAGE
    if requested == outputs.MASK:
        return requested
    if requested not in outputs.ENGINE_OUTPUT_TYPES:
        raise unimplemented(
            f"requestedType: {requested} is not something this server returns (it returns ARTIFACT_IMAGE, "
            f"ARTIFACT_MASK and, where the engine can, {', '.join(outputs.ENGINE_OUTPUT_TYPES)})"
        )
    if requested not in description.output_types:
        offered = ", ".join(sorted(description.output_types)) or "no other type"
        raise unimplemented(
            f"requestedType: engine {engine_id!r} cannot return {requested}; it returns ARTIFACT_IMAGE, "
            f"ARTIFACT_MASK (of a request with a mask) and {offered}"
        )
    return requested


def latent_size(split: Any, description: EngineDescription, engine_id: str) -> tuple[int, int] | None:
    """The (width, height) in pixels an initial latent stands for; None without one."""
    latent = split.init_latent
    if latent is None:
        return None
    path = split.init_latent_path
    if description.latent_channels is None or description.latent_scale is None:
        raise unimplemented(f"{path}: engine {engine_id!r} does not take latents as input")
    if latent.shape[0] != description.latent_channels:
        raise invalid(
            f"{path}.tensor.shape: engine {engine_id!r} has {description.latent_channels} latent channels, "
            f"the tensor has {latent.shape[0]} (shape [channels, height, width])"
        )
    return latent.shape[2] * description.latent_scale, latent.shape[1] * description.latent_scale


def _check_token_prompts(fragments: list[Any], description: EngineDescription, engine_id: str) -> None:
    for fragment in fragments:
        if fragment.tokens is None:
            continue
        if not description.supports_token_prompts:
            raise unimplemented(f"prompt.tokens: engine {engine_id!r} takes prompts as text only")
        known = description.tokenizer_id
        if fragment.tokenizer_id and known is not None and fragment.tokenizer_id != known:
            raise invalid(
                f"prompt.tokens.tokenizerId: {client_text(fragment.tokenizer_id)} is not the tokenizer of engine "
                f"{engine_id!r} ({known}); send ids for that one, or text"
            )
        if description.vocabulary_size is None:
            continue
        outside = [token for token in fragment.tokens if token >= description.vocabulary_size]
        if outside:
            raise invalid(
                f"prompt.tokens: token id {outside[0]} is outside the vocabulary of engine {engine_id!r} "
                f"(ids 0..{description.vocabulary_size - 1})"
            )


def _schedule_end(values: StepValues, start: float, steps: int) -> float:
    """schedule.end, checked to leave at least one step: of ``steps``, ``int(steps·start)`` are in range
    and the last ``int(steps·end)`` of the whole schedule are not run."""
    end = values.schedule_end
    if end is None or end == 0:
        return 0.0
    path = values.path("schedule_end")
    if end >= start:
        raise invalid(f"{path}: {end:g} must be below schedule.start ({start:g}): the schedule runs from start down to end")
    if int(steps * start) - int(steps * end) < 1:
        raise invalid(
            f"{path}: with {steps} steps, schedule.start {start:g} and end {end:g} leave no step to run "
            "(use more steps or a smaller end)"
        )
    return float(end)


def _check_uses(
    request: Any, image: Any, values: StepValues, description: EngineDescription, engine_id: str
) -> None:
    """Refuse a standard parameter the client set and the engine ignores (``EngineDescription.uses``).

    Only what the client sent counts: a default (cfgScale 7.5, a random seed) is never refused.
    """
    if description.uses is None:
        return
    sent: list[tuple[str, str]] = []  # (parameter, JSON path)
    negative = next(
        (i for i, p in enumerate(request.prompt or ()) if p.text is not None and _prompt_weight(p) < 0), None
    )
    if negative is not None:
        sent.append(("negative_prompt", f"prompt[{negative}].parameters.weight"))
    if values.cfg_scale is not None:
        sent.append(("cfg_scale", values.path("cfg_scale")))
    if values.schedule_start is not None:
        sent.append(("strength", values.path("schedule_start")))
    if image.seed:
        sent.append(("seed", "image.seed"))
    if image.steps is not None:
        sent.append(("steps", "image.steps"))
    if image.transform is not None and image.transform.diffusion is not None:
        sent.append(("sampler", "image.transform.diffusion"))
    for parameter, path in sent:
        if not description.accepts(parameter):
            uses = ", ".join(sorted(description.uses)) or "none"
            raise unimplemented(
                f"{path}: engine {engine_id!r} does not use {parameter} and would ignore it; "
                f"leave it unset (the standard parameters it uses: {uses})"
            )


def _prompt_weight(prompt: Any) -> float:
    parameters = prompt.parameters
    return 1.0 if parameters is None or parameters.weight is None else float(parameters.weight)


def _request_id(given: str | None, limits: LimitSettings) -> str:
    """The client's requestId, bounded: it is echoed in answers and written to the log."""
    if not given:
        return str(uuid.uuid4())
    if len(given) > limits.max_request_id_chars:
        raise invalid(
            f"requestId: {len(given)} characters; the limit is {limits.max_request_id_chars} "
            "(limits.max_request_id_chars)"
        )
    control = _CONTROL_CHARACTER.search(given)
    if control is not None:
        raise invalid(
            f"requestId: control character U+{ord(control.group()):04X} at position {control.start()}; "
            "control characters (CR, LF, NUL, …) are not allowed"
        )
    return given


class _EmptyImageParameters:
    height = width = samples = steps = transform = extension = hires = tiling = None
    seed: tuple[int, ...] = ()
    parameters: tuple[Any, ...] = ()


def _size(
    image: Any,
    init: np.ndarray | None,
    description: EngineDescription,
    limits: EngineLimits,
    latent: tuple[int, int] | None = None,
) -> tuple[int, int]:
    width = image.width
    height = image.height
    if latent is not None:
        # A latent cannot be resized: it fixes the size.
        for name, given, implied in (("width", width, latent[0]), ("height", height, latent[1])):
            if given is not None and int(given) != implied:
                raise invalid(
                    f"image.{name}: {given} does not match the initial latent, which makes {implied} pixels; "
                    f"leave image.{name} unset or send a latent of that size"
                )
        width, height = latent
    if init is not None:
        width = init.shape[1] if width is None else width
        height = init.shape[0] if height is None else height
    width = description.native_width if width is None else int(width)
    height = description.native_height if height is None else int(height)
    multiple = limits.size_multiple
    for name, value, maximum in (("width", width, limits.max_width), ("height", height, limits.max_height)):
        if value <= 0:
            raise invalid(f"image.{name}: must be positive, got {value}")
        if value % multiple:
            raise invalid(f"image.{name}: {value} is not a multiple of {multiple}; try {max(multiple, value // multiple * multiple)}")
        if value > maximum:
            raise invalid(f"image.{name}: {value} is above this engine's limit of {maximum}")
    if width * height > limits.max_pixels:
        raise invalid(f"image: {width}×{height} = {width * height} pixels is above this engine's limit of {limits.max_pixels}")
    return width, height


def _seeds(image: Any, limits: EngineLimits, input_limits: LimitSettings) -> list[int]:
    samples = 1 if image.samples is None else int(image.samples)
    if not 1 <= samples <= limits.max_samples:
        raise invalid(f"image.samples: must be 1..{limits.max_samples}, got {samples}")
    given = list(image.seed or ())
    if len(given) > input_limits.max_seed_entries:
        raise invalid(f"image.seed: {len(given)} entries; the limit is {input_limits.max_seed_entries}")
    seeds = [int(seed) % UINT32 for seed in given[:samples]]
    if not seeds:
        seeds = [secrets.randbelow(UINT32)]
    while len(seeds) < samples:
        seeds.append((seeds[-1] + 1) % UINT32)
    return seeds


def _steps(image: Any, description: EngineDescription, limits: EngineLimits) -> int:
    steps = description.default_steps if image.steps is None else int(image.steps)
    if not 1 <= steps <= limits.max_steps:
        raise invalid(f"image.steps: must be 1..{limits.max_steps}, got {steps}")
    return steps


def _sampler_name(image: Any, description: EngineDescription, samplers: Mapping[str, SamplerSpec], engine_id: str) -> str:
    transform = image.transform
    name = None
    if transform is not None:
        if transform.upscaler is not None:
            raise unimplemented("image.transform.upscaler: upscaling is not supported; use transform.diffusion")
        name = _enum(transform.diffusion)
    name = name or description.default_sampler
    if name not in samplers:
        available = ", ".join(sorted(samplers)) or "none"
        raise invalid(
            f"image.transform.diffusion: engine {engine_id!r} has no sampler {client_text(name)}; available: {available}"
        )
    return name


def _check_sampler_support(settings: SamplerSettings, spec: SamplerSpec, paths: Mapping[str, str]) -> None:
    """Parameters the sampler would ignore are refused rather than silently dropped (API.md §4)."""
    unsupported: list[tuple[str, str]] = []  # (StepValues name, label)
    if settings.eta is not None and not spec.supports_eta:
        unsupported.append(("eta", "eta"))
    churn_names = [name for name in ("churn", "churn_tmin", "churn_tmax") if getattr(settings, name) is not None]
    if churn_names and not spec.supports_churn:
        unsupported.append((churn_names[0], "churn"))
    if (settings.sigma_min is not None or settings.sigma_max is not None) and not spec.supports_sigma_limits:
        unsupported.append(("sigma_min" if settings.sigma_min is not None else "sigma_max", "sigma.sigmaMin/sigmaMax"))
    if settings.karras_rho is not None and not spec.supports_karras_rho:
        unsupported.append(("karras_rho", "sigma.karrasRho"))
    if settings.noise_type is not None and settings.noise_type not in spec.noise_types:
        unsupported.append(("noise_type", f"noiseType {settings.noise_type}"))
    if unsupported:
        path = paths.get(unsupported[0][0], "image.parameters[0].sampler")
        raise invalid(
            f"{path}: {spec.name} does not support {', '.join(label for _, label in unsupported)} "
            "(see supportedSamplers in ListEngines)"
        )


def _fit(pixels: np.ndarray, width: int, height: int, method: str) -> np.ndarray:
    if pixels.shape[0] == height and pixels.shape[1] == width:
        return pixels
    return _ops.rescale(np.ascontiguousarray(pixels), width, height, 0, method)


def _extensions(
    image: Any, declared: tuple[ExtensionParam, ...] | Any, engine_id: str, test_controls: bool
) -> dict[str, Any]:
    by_name = {param.name: param for param in declared if test_controls or not param.test_control}
    hidden = {param.name for param in declared if param.test_control and not test_controls}
    values: dict[str, Any] = {param.name: param.default for param in declared if param.default is not None}
    extension = image.extension
    for position, parameter in enumerate((extension.parameters if extension else None) or ()):
        path = f"image.extension.parameters[{position}]"
        param = by_name.get(parameter.name)
        if parameter.name in hidden:
            raise invalid(
                f"{path}.name: {parameter.name!r} is a test control of engine {engine_id!r}; this server refuses it "
                "(enable test controls with [server] test_controls = true or SFUMATO_TEST_CONTROLS=1, never in production)"
            )
        if param is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise invalid(f"{path}.name: engine {engine_id!r} has no extension parameter {parameter.name!r} (accepted: {known})")
        values[param.name] = _extension_value(param, parameter, path)
    return values


def _extension_value(param: ExtensionParam, parameter: Any, path: str) -> Any:
    given = {"float": parameter.float_value, "int": parameter.int_value, "str": parameter.str_value}
    set_kinds = [kind for kind, value in given.items() if value is not None]
    if set_kinds != [param.type] and not (param.type == "float" and set_kinds == ["int"]):
        article = "an" if param.type == "int" else "a"
        raise invalid(f"{path}: {param.name!r} takes {article} {param.type} value (set '{param.type}')")
    value = given[set_kinds[0]]
    if param.type == "float":
        value = float(value)
        if not math.isfinite(value):
            raise invalid(f"{path}.float: must be finite")
    if param.type in ("float", "int"):
        too_low = param.minimum is not None and value < param.minimum
        too_high = param.maximum is not None and value > param.maximum
        if too_low or too_high:
            if param.minimum is not None and param.maximum is not None:
                bound = f"in {param.minimum}..{param.maximum}"
            else:
                bound = f"≥ {param.minimum}" if too_low else f"≤ {param.maximum}"
            raise invalid(f"{path}: {param.name!r} must be {bound}, got {value}")
    if param.choices and value not in param.choices:
        raise invalid(f"{path}.str: {param.name!r} must be one of {', '.join(param.choices)}, got {value!r}")
    return value


def engine_not_found(engine_id: str, known: list[str]) -> RpcError:
    return RpcError(
        Code.NOT_FOUND, f"engineId: no engine {client_text(engine_id)}; available engines: {', '.join(known) or 'none'}"
    )
