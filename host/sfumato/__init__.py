"""sfumato: a self-hosted image-generation server for the Stability/Gyre generation API."""

__version__ = "0.1.0"

# The plugin API this host provides (major.minor). A minor release only adds to it; a
# major release may change or remove things. Plugins declare the range they support in
# their entry-point module as ``SFUMATO_PLUGIN_API`` (see docs/plugins.md).
PLUGIN_API_VERSION = "1.0"

from sfumato.hookspecs import hookimpl  # noqa: E402

__all__ = ["PLUGIN_API_VERSION", "__version__", "hookimpl"]
