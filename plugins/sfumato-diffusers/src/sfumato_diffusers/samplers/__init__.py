"""Samplers for the diffusers engine: one module per scheduler family.

The factory contract (also used by third-party sampler plugins) is::

    build(base_config: Mapping[str, Any], settings: SamplerSettings) -> diffusers.SchedulerMixin

``base_config`` is the loaded model's own scheduler config (betas, prediction type,
timestep spacing…); the factory returns a fresh scheduler honouring the sampler
parameters its :class:`~sfumato.records.SamplerSpec` flags claim. This package's
``__init__`` and :mod:`.catalog` import no torch; the family modules do.
"""
