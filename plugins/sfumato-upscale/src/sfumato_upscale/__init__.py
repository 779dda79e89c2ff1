"""Upscaling engines for sfumato (``image.transform.upscaler``).

Importing this package is cheap: torch and spandrel are only imported by
:mod:`sfumato_upscale.esrgan`, :mod:`sfumato_upscale.tiling` and :mod:`sfumato_upscale.tiny`,
which the host resolves lazily; the ``rgb-upscale`` kind never imports them.
"""

__version__ = "0.1.0"
