"""How many CPU threads torch may use, so its pools do not fight the server's own threads.

torch sizes its intra-op pool to every core by default; on a small CPU-only host that leaves
the event loop (HTTP, answer encoding) and the worker's PNG encoding waiting for a core while
OpenMP threads spin. The settings are process-wide: the last diffusers engine loaded sets them.
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger("sfumato.diffusers")

# Cores left to the server's event loop and the worker's PNG encoding when ``cpu_threads`` is auto.
SERVER_CORES = 1


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def auto_threads(device: torch.device) -> int | None:
    """Threads for ``cpu_threads = 0`` (auto): the cores the server leaves free when torch runs on the
    CPU; None (torch's own default) when the model runs on an accelerator."""
    if device.type != "cpu":
        return None
    return max(1, available_cores() - SERVER_CORES)


def apply_thread_settings(threads: int, device: torch.device) -> str | None:
    """Size torch's intra-op pool (and, on CPU, its inter-op pool to one thread: pipelines run one
    op graph at a time). Returns a line for the load report, None if nothing changed."""
    count = threads or auto_threads(device)
    if count is None:
        return None
    torch.set_num_threads(count)
    if device.type == "cpu":
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only allowed before the first parallel work; then it stays as it was
            log.debug("torch inter-op threads already fixed at %d", torch.get_num_interop_threads())
    return f"torch CPU threads: {torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op"
