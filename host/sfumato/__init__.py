"""sfumato: a self-hosted image-generation server for the Stability/Gyre generation API."""

__version__ = "0.1.0"

from sfumato.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]
