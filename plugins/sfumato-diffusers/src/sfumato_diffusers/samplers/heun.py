"""Second-order k-samplers: Heun, DPM2 and DPM2 ancestral."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# The builders import diffusers (and torch) when called: listing and checking samplers stays fast.
if TYPE_CHECKING:
    from diffusers import HeunDiscreteScheduler, KDPM2AncestralDiscreteScheduler, KDPM2DiscreteScheduler
from sfumato.jobs.job import SamplerSettings

from sfumato_diffusers.samplers.helpers import build_with_karras


def build_heun(base_config: Mapping[str, Any], settings: SamplerSettings) -> HeunDiscreteScheduler:
    from diffusers import HeunDiscreteScheduler
    return build_with_karras(HeunDiscreteScheduler, base_config, settings)


def build_dpm2(base_config: Mapping[str, Any], settings: SamplerSettings) -> KDPM2DiscreteScheduler:
    from diffusers import KDPM2DiscreteScheduler
    return build_with_karras(KDPM2DiscreteScheduler, base_config, settings)


def build_dpm2_ancestral(
    base_config: Mapping[str, Any], settings: SamplerSettings
) -> KDPM2AncestralDiscreteScheduler:
    from diffusers import KDPM2AncestralDiscreteScheduler
    return build_with_karras(KDPM2AncestralDiscreteScheduler, base_config, settings)
