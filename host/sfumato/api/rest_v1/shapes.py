"""REST v1 request and response shapes, with Stability's defaults and bounds.

Optional fields are ``None`` when the client did not send them; the defaults named in
each description are applied when the wire Request is built, so a default is never
sent to an engine that does not use that parameter. Bounds are checked while decoding.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

UINT32_MAX = 2**32 - 1
FLOAT32_MAX = 3.4028234663852886e38
MAX_PROMPT_CHARS = 2000

ClipGuidancePreset = Literal["FAST_BLUE", "FAST_GREEN", "NONE", "SIMPLE", "SLOW", "SLOWER", "SLOWEST"]
Sampler = Literal[
    "DDIM", "DDPM", "K_DPMPP_2M", "K_DPMPP_2S_ANCESTRAL", "K_DPM_2", "K_DPM_2_ANCESTRAL", "K_EULER",
    "K_EULER_ANCESTRAL", "K_HEUN", "K_LMS",
]
StylePreset = Literal[
    "enhance", "anime", "photographic", "digital-art", "comic-book", "fantasy-art", "line-art", "analog-film",
    "neon-punk", "isometric", "low-poly", "origami", "modeling-compound", "cinematic", "3d-model", "pixel-art",
    "tile-texture",
]
InitImageMode = Literal["IMAGE_STRENGTH", "STEP_SCHEDULE"]
MaskSource = Literal["MASK_IMAGE_WHITE", "MASK_IMAGE_BLACK", "INIT_IMAGE_ALPHA"]
FinishReason = Literal["SUCCESS", "ERROR", "CONTENT_FILTERED"]
EngineType = Literal["AUDIO", "CLASSIFICATION", "PICTURE", "STORAGE", "TEXT", "VIDEO"]


class FilePart(bytes):
    """An image sent as a multipart/form-data file part (documented as binary)."""

    __slots__ = ()


def _doc(description: str, default: Any = None) -> Meta:
    extra = {"description": description}
    if default is not None:
        extra["extra"] = {"default": default}
    return Meta(extra_json_schema=extra)


class TextPrompt(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: Annotated[str, Meta(min_length=1, max_length=MAX_PROMPT_CHARS, description="The prompt itself")]
    weight: Annotated[float, Meta(ge=-FLOAT32_MAX, le=FLOAT32_MAX, description=(
        "Weight of the prompt (default 1); a negative weight makes it a negative prompt"))] | None = None


Prompts = Annotated[
    list[TextPrompt],
    Meta(min_length=1, description="At least one prompt. In multipart forms: text_prompts[0][text], "
                                   "text_prompts[0][weight], text_prompts[1][text], …"),
]
CfgScale = Annotated[float, Meta(ge=0, le=35)]
Samples = Annotated[int, Meta(ge=1, le=10)]
Seed = Annotated[int, Meta(ge=0, le=UINT32_MAX)]
Steps = Annotated[int, Meta(ge=10, le=150)]
Side = Annotated[int, Meta(ge=128, multiple_of=64)]
UnitInterval = Annotated[float, Meta(ge=0, le=1)]


class GenerationOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields every generation route takes."""

    text_prompts: Prompts
    cfg_scale: Annotated[CfgScale, _doc("How strictly the image follows the prompt (default 7)", 7)] | None = None
    clip_guidance_preset: Annotated[ClipGuidancePreset, _doc(
        "CLIP guidance (default NONE); a hint that engines without CLIP guidance ignore", "NONE")] | None = None
    sampler: Annotated[Sampler, _doc("Sampler; default: the engine's")] | None = None
    samples: Annotated[Samples, _doc("Images to generate (default 1; 1 with Accept: image/png)", 1)] | None = None
    seed: Annotated[Seed, _doc("Random seed; 0 or absent = random", 0)] | None = None
    steps: Annotated[Steps, _doc("Diffusion steps (default 50)", 50)] | None = None
    style_preset: Annotated[StylePreset, _doc("Style hint, passed to the engine as extras.$IPC.preset")] | None = None
    extras: Annotated[dict[str, Any], _doc("Passed to the engine as the Request's extras")] | None = None


class TextToImageOptions(GenerationOptions, kw_only=True):
    """``POST /v1/generation/{engine_id}/text-to-image`` (application/json)."""

    height: Annotated[Side, _doc("Height in pixels, a multiple of 64 (default 512)", 512)] | None = None
    width: Annotated[Side, _doc("Width in pixels, a multiple of 64 (default 512)", 512)] | None = None


class ImageToImageOptions(GenerationOptions, kw_only=True):
    """``POST /v1/generation/{engine_id}/image-to-image`` (multipart/form-data)."""

    init_image: Annotated[FilePart, Meta(description="The initial image: PNG, JPEG or WebP")]
    init_image_mode: Annotated[InitImageMode, _doc(
        "Whether image_strength or step_schedule_start/end say how much of the init image is kept "
        "(default IMAGE_STRENGTH)", "IMAGE_STRENGTH")] | None = None
    image_strength: Annotated[UnitInterval, _doc(
        "With IMAGE_STRENGTH: how much the result keeps of the init image; 1 = all of it (default 0.35)", 0.35)] | None = None
    step_schedule_start: Annotated[UnitInterval, _doc(
        "With STEP_SCHEDULE: where the diffusion schedule starts; 1 − image_strength (default 0.65)", 0.65)] | None = None
    step_schedule_end: Annotated[UnitInterval, _doc("With STEP_SCHEDULE: where the schedule ends")] | None = None


class MaskingOptions(ImageToImageOptions, kw_only=True):
    """``POST /v1/generation/{engine_id}/image-to-image/masking`` (multipart/form-data)."""

    mask_source: Annotated[MaskSource, Meta(description=(
        "Which pixels are repainted: MASK_IMAGE_WHITE = white pixels of mask_image, MASK_IMAGE_BLACK = black "
        "pixels of mask_image, INIT_IMAGE_ALPHA = transparent pixels of init_image"))]
    mask_image: Annotated[FilePart, _doc(
        "The mask, the size of init_image; required unless mask_source is INIT_IMAGE_ALPHA")] | None = None


class UpscaleOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/generation/{engine_id}/image-to-image/upscale`` (multipart/form-data)."""

    image: Annotated[FilePart, Meta(description="The image to upscale: PNG, JPEG or WebP")]
    width: Annotated[int, Meta(ge=512), _doc("Output width (send width or height, not both)")] | None = None
    height: Annotated[int, Meta(ge=512), _doc("Output height (send width or height, not both)")] | None = None
    text_prompts: Annotated[list[TextPrompt], _doc("For upscalers guided by a prompt")] | None = None
    seed: Seed | None = None
    steps: Steps | None = None
    cfg_scale: CfgScale | None = None


# ---- responses ----


class ImageArtifact(msgspec.Struct, kw_only=True):
    base64: str
    seed: int
    finishReason: FinishReason  # noqa: N815 - the REST v1 field name


class ArtifactsResponse(msgspec.Struct, kw_only=True):
    """A generation's images, in sample order."""

    artifacts: list[ImageArtifact]


class EngineListing(msgspec.Struct, kw_only=True):
    id: str
    name: str
    description: str
    type: EngineType


class Organization(msgspec.Struct, kw_only=True):
    id: str
    name: str
    role: str
    is_default: bool


class Account(msgspec.Struct, kw_only=True):
    id: str
    email: str
    profile_picture: str
    organizations: list[Organization]


class Balance(msgspec.Struct, kw_only=True):
    credits: float
