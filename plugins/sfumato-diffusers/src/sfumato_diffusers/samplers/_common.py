"""Deprecated name of :mod:`sfumato_diffusers.samplers.helpers`, kept for plugins that import it."""

import sys

from sfumato_diffusers.samplers import helpers

sys.modules[__name__] = helpers
