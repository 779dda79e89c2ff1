"""REST v1 options → the wire Request the job core runs, as a gRPC client would send it.

REST defaults (cfg_scale 7, steps 50, samples 1, 512×512, image_strength 0.35) are
sent only for parameters the engine uses (``EngineDescription.accepts``), so a default
never makes an engine refuse a request; a value the client sent is always passed on,
and the engine refuses it if it would ignore it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sfumato import wire
from sfumato.api.rest_v1.bodies import ImageInfo, image_info
from sfumato.api.rest_v1.errors import RestError, bad_request
from sfumato.api.rest_v1.shapes import (
    GenerationOptions,
    ImageToImageOptions,
    MaskingOptions,
    TextPrompt,
    TextToImageOptions,
    UpscaleOptions,
)

DEFAULT_CFG_SCALE = 7.0
DEFAULT_STEPS = 50
DEFAULT_SIDE = 512
DEFAULT_IMAGE_STRENGTH = 0.35
DEFAULT_STEP_SCHEDULE_START = 0.65
# Stability's bound on an upscale's output; the engine's own limits apply too.
MAX_UPSCALED_PIXELS = 4_194_304

Accepts = Callable[[str], bool]


def text_to_image(engine_id: str, options: TextToImageOptions, accepts: Accepts, clip_guidance: bool) -> wire.Request:
    size = (options.width or DEFAULT_SIDE, options.height or DEFAULT_SIDE)
    image = _image_parameters(options, accepts, clip_guidance, schedule=None, size=size)
    return wire.Request(engine_id=engine_id, prompt=_prompts(options.text_prompts), image=image,
                        extras=_extras(options))


def image_to_image(engine_id: str, options: ImageToImageOptions, accepts: Accepts, clip_guidance: bool) -> wire.Request:
    init = image_info("init_image", options.init_image)
    prompts = _prompts(options.text_prompts)
    prompts.append(_artifact(wire.ArtifactType.ARTIFACT_IMAGE, options.init_image))
    if isinstance(options, MaskingOptions):
        prompts.append(_mask(options, init))
    image = _image_parameters(options, accepts, clip_guidance, schedule=_schedule(options, accepts))
    return wire.Request(engine_id=engine_id, prompt=prompts, image=image, extras=_extras(options))


def upscale(engine_id: str, options: UpscaleOptions, upscaler: str) -> wire.Request:
    if options.width is not None and options.height is not None:
        raise bad_request("width and height: send one of them; the other follows the image's aspect ratio")
    source = image_info("image", options.image)
    if options.width is not None:
        width, height = options.width, round(source.height * options.width / source.width)
    elif options.height is not None:
        width, height = round(source.width * options.height / source.height), options.height
    else:
        width = height = None
    if width is not None and height is not None and width * height > MAX_UPSCALED_PIXELS:
        raise RestError(400, "invalid_pixel_count", f"the upscaled image would be {width}×{height} = {width * height} "
                                                    f"pixels; the limit is {MAX_UPSCALED_PIXELS}")
    image = wire.ImageParameters(
        width=None if options.width is None else wire.U64(options.width),
        height=None if options.height is None else wire.U64(options.height),
        seed=[] if not options.seed else [options.seed],
        steps=None if options.steps is None else wire.U64(options.steps),
        transform=wire.TransformType(upscaler=wire.Upscaler(upscaler)) if upscaler in _UPSCALERS else None,
        parameters=[] if options.cfg_scale is None
        else [wire.StepParameter(sampler=wire.SamplerParameters(cfg_scale=options.cfg_scale))],
    )
    prompts = _prompts(options.text_prompts or [])
    prompts.append(_artifact(wire.ArtifactType.ARTIFACT_IMAGE, options.image))
    return wire.Request(engine_id=engine_id, prompt=prompts, image=image)


_UPSCALERS = {member.value for member in wire.Upscaler}
_PROMPT_PATH = re.compile(r"^prompt\[(\d+)\](?:\.artifact(?:\.binary)?)?")


def rest_paths(message: str, request: wire.Request, image_field: str) -> str:
    """``message`` with a leading ``prompt[i]…`` path renamed to the REST field it came from."""
    match = _PROMPT_PATH.match(message)
    if match is None or int(match[1]) >= len(request.prompt):
        return message
    index = int(match[1])
    prompt = request.prompt[index]
    if prompt.artifact is None:
        field = f"text_prompts[{index}]"
    elif prompt.artifact.type == wire.ArtifactType.ARTIFACT_MASK:
        field = "init_image" if prompt.artifact.adjustments and prompt.artifact.adjustments[0].channels else "mask_image"
    else:
        field = image_field
    return field + message[match.end():]


def _prompts(text_prompts: list[TextPrompt]) -> list[wire.Prompt]:
    return [
        wire.Prompt(text=prompt.text, parameters=wire.PromptParameters(weight=prompt.weight))
        if prompt.weight is not None else wire.Prompt(text=prompt.text)
        for prompt in text_prompts
    ]


def _artifact(kind: wire.ArtifactType, data: bytes, adjustments: list[wire.ImageAdjustment] | None = None) -> wire.Prompt:
    return wire.Prompt(artifact=wire.Artifact(type=kind, binary=wire.Base64Bytes(data), adjustments=adjustments or []))


def _mask(options: MaskingOptions, init: ImageInfo) -> wire.Prompt:
    """The mask as the core takes it: white = repaint, black = keep (docs/api.md)."""
    invert = wire.ImageAdjustment(invert=wire.ImageAdjustmentInvert())
    if options.mask_source == "INIT_IMAGE_ALPHA":
        if options.mask_image is not None:
            raise RestError(400, "invalid_mask_image", "mask_image: leave it out with mask_source INIT_IMAGE_ALPHA "
                                                       "(the init image's transparency is the mask)")
        if not init.has_alpha:
            raise RestError(400, "invalid_mask_image", "init_image: mask_source INIT_IMAGE_ALPHA repaints the "
                                                       "transparent pixels, and this image has no alpha channel")
        alpha_to_red = wire.ImageAdjustment(channels=wire.ImageAdjustmentChannels(r=wire.ChannelSource.CHANNEL_A))
        # Opaque alpha (255) must become black (keep): take the alpha, then invert it.
        return _artifact(wire.ArtifactType.ARTIFACT_MASK, options.init_image, [alpha_to_red, invert])
    if options.mask_image is None:
        raise RestError(400, "invalid_mask_image", f"mask_image: required with mask_source {options.mask_source}")
    mask = image_info("mask_image", options.mask_image)
    if (mask.width, mask.height) != (init.width, init.height):
        raise RestError(400, "invalid_image_dimensions", f"mask_image: {mask.width}×{mask.height} does not match "
                                                         f"the init_image's {init.width}×{init.height}")
    adjustments = [invert] if options.mask_source == "MASK_IMAGE_BLACK" else []
    return _artifact(wire.ArtifactType.ARTIFACT_MASK, options.mask_image, adjustments)


def _schedule(options: ImageToImageOptions, accepts: Accepts) -> wire.ScheduleParameters | None:
    if options.init_image_mode == "STEP_SCHEDULE":
        if options.image_strength is not None:
            raise bad_request("image_strength: only with init_image_mode IMAGE_STRENGTH; "
                              "with STEP_SCHEDULE send step_schedule_start (and step_schedule_end)")
        start = options.step_schedule_start
        if start is None and accepts("strength"):
            start = DEFAULT_STEP_SCHEDULE_START
        if start is None and options.step_schedule_end is None:
            return None
        return wire.ScheduleParameters(start=start, end=options.step_schedule_end)
    for name in ("step_schedule_start", "step_schedule_end"):
        if getattr(options, name) is not None:
            raise bad_request(f"{name}: only with init_image_mode STEP_SCHEDULE; "
                              "with IMAGE_STRENGTH (the default) send image_strength")
    strength = options.image_strength
    if strength is None:
        if not accepts("strength"):
            return None
        strength = DEFAULT_IMAGE_STRENGTH
    # image_strength is the share of the init image kept; schedule.start the share re-run.
    return wire.ScheduleParameters(start=1.0 - strength)


def _image_parameters(
    options: GenerationOptions,
    accepts: Accepts,
    clip_guidance: bool,
    schedule: wire.ScheduleParameters | None,
    size: tuple[int, int] | None = None,
) -> wire.ImageParameters:
    cfg_scale = options.cfg_scale
    if cfg_scale is None and accepts("cfg_scale"):
        cfg_scale = DEFAULT_CFG_SCALE
    steps = options.steps
    if steps is None and accepts("steps"):
        steps = DEFAULT_STEPS
    guidance = None
    preset = options.clip_guidance_preset
    # A hint, as on Stability's service (applied only with samplers that support it): published
    # examples send FAST_BLUE, so an engine without CLIP guidance runs without it.
    if preset is not None and preset != "NONE" and clip_guidance:
        guidance = wire.GuidanceParameters(guidance_preset=wire.GuidancePreset(f"GUIDANCE_PRESET_{preset}"))
    step = wire.StepParameter(
        sampler=None if cfg_scale is None else wire.SamplerParameters(cfg_scale=cfg_scale),
        schedule=schedule,
        guidance=guidance,
    )
    has_step = step.sampler is not None or step.schedule is not None or step.guidance is not None
    return wire.ImageParameters(
        width=None if size is None else wire.U64(size[0]),
        height=None if size is None else wire.U64(size[1]),
        samples=wire.U64(options.samples or 1),
        seed=[options.seed] if options.seed else [],
        steps=None if steps is None else wire.U64(steps),
        transform=None if options.sampler is None else wire.TransformType(diffusion=f"SAMPLER_{options.sampler}"),
        parameters=[step] if has_step else [],
    )


def _extras(options: GenerationOptions) -> dict[str, Any] | None:
    extras = dict(options.extras or {})
    if options.style_preset is not None:
        # Where the stability-sdk puts the style preset over gRPC.
        ipc = extras.get("$IPC")
        extras["$IPC"] = {**(ipc if isinstance(ipc, dict) else {}), "preset": options.style_preset}
    return extras or None
