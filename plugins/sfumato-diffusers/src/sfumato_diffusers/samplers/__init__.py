"""Samplers for the diffusers engine: one module per scheduler family.

The factory contract (also used by third-party sampler plugins) is::

    build(base_config: Mapping[str, Any], settings: SamplerSettings) -> diffusers.SchedulerMixin

``base_config`` is the loaded model's own scheduler config (betas, prediction type,
timestep spacing…); the factory returns a fresh scheduler honouring the sampler
parameters its :class:`~sfumato.records.SamplerSpec` flags claim. The engine kind
declares it as :data:`SAMPLER_CONTRACT`, which the host checks every factory against
before the engine sees it. This package's ``__init__`` and :mod:`.catalog` import no
torch; the family modules do.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from sfumato.records import SamplerContract


def _not_a_scheduler_class(factory: Callable[..., Any]) -> None:
    # A scheduler class binds two positional arguments too, but would get them as betas.
    if inspect.isclass(factory):
        raise TypeError(
            f"factory is the class {factory.__name__}; give a function build(base_config, settings) "
            "that returns a configured scheduler"
        )


SAMPLER_CONTRACT = SamplerContract(
    signature="build(base_config: Mapping[str, Any], settings: SamplerSettings) -> diffusers.SchedulerMixin",
    arguments=("base_config", "settings"),
    check=_not_a_scheduler_class,
)
