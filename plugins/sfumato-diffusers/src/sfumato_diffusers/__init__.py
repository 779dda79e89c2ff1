"""Diffusers engine plugin for sfumato.

Importing this package is cheap: torch and diffusers are only imported by
:mod:`sfumato_diffusers.engine`, :mod:`sfumato_diffusers.tiny` and the sampler
family modules, which the host resolves lazily.
"""

__version__ = "0.1.0"
