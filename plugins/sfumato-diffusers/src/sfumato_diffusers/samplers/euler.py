"""Euler and Euler ancestral."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# The builders import diffusers (and torch) when called: listing and checking samplers stays fast.
if TYPE_CHECKING:
    from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler
from sfumato.jobs.job import SamplerSettings

from sfumato_diffusers.samplers.helpers import build_with_karras, from_base, override_step_arguments


def build_euler(base_config: Mapping[str, Any], settings: SamplerSettings) -> EulerDiscreteScheduler:
    from diffusers import EulerDiscreteScheduler
    scheduler = build_with_karras(EulerDiscreteScheduler, base_config, settings)
    churn: dict[str, float] = {}
    if settings.churn is not None:
        churn["s_churn"] = settings.churn
        churn["s_tmin"] = settings.churn_tmin if settings.churn_tmin is not None else 0.0
        churn["s_tmax"] = settings.churn_tmax if settings.churn_tmax is not None else math.inf
    return override_step_arguments(scheduler, **churn)


def build_euler_ancestral(
    base_config: Mapping[str, Any], settings: SamplerSettings
) -> EulerAncestralDiscreteScheduler:
    from diffusers import EulerAncestralDiscreteScheduler
    return from_base(EulerAncestralDiscreteScheduler, base_config)
