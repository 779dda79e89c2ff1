"""Keeps torch-side libraries out of the default server log.

transformers, diffusers and huggingface_hub print notices, deprecation warnings and
progress bars while a model loads; none of it is for the person running the server.
Their records below ERROR and their warnings become DEBUG records (shown with
``server.log_level = "debug"``), and their progress bars are off.
"""

from __future__ import annotations

import threading

from sfumato.logs import quiet_libraries

LIBRARIES = ("diffusers", "transformers", "huggingface_hub", "accelerate", "peft")

_lock = threading.Lock()
_done = False


def quiet() -> None:
    global _done
    with _lock:
        if _done:
            return
        # Importing their logging modules first makes them install their own handlers,
        # which quiet_libraries then replaces.
        from diffusers.utils import logging as diffusers_logging
        from huggingface_hub.utils import disable_progress_bars
        from transformers.utils import logging as transformers_logging

        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        disable_progress_bars()
        quiet_libraries(*LIBRARIES)
        _done = True
