"""Linear multistep (needs scipy for its integration coefficients)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# The builders import diffusers (and torch) when called: listing and checking samplers stays fast.
if TYPE_CHECKING:
    from diffusers import LMSDiscreteScheduler
from sfumato.jobs.job import SamplerSettings

from sfumato_diffusers.samplers.helpers import build_with_karras


def build_lms(base_config: Mapping[str, Any], settings: SamplerSettings) -> LMSDiscreteScheduler:
    from diffusers import LMSDiscreteScheduler
    return build_with_karras(LMSDiscreteScheduler, base_config, settings)
