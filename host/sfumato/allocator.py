"""glibc malloc settings for a process that allocates and frees the same large buffers on every request.

glibc serves a block from M_MMAP_THRESHOLD up (128 KiB, rising to the largest block freed)
with its own ``mmap``, and hands the free top of a heap back to the kernel once more than
M_TRIM_THRESHOLD is there. An image request makes and drops megabytes of temporaries
(numpy arrays, PNG buffers, tensors on the CPU), so each request faulted its memory in
again page by page and unmapped it when done: the 512² test-pattern engine spent 12 of its
35 ms of CPU in the kernel (4000 page faults a call), and the worker thread, which holds
the GIL while it drops its image, stalled the event loop for 1.2–1.5 ms before each answer.

``server.keep_freed_memory_mib`` keeps that much freed memory for reuse instead (and serves
blocks below 32 MiB, glibc's ceiling for the setting, from the heap). The cost is resident
memory that is not returned between requests: at most that much per malloc arena.
Set to 0, or when the ``MALLOC_*`` variables or ``GLIBC_TUNABLES`` already set these, glibc
is left as configured; other C libraries are not touched.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger("sfumato.allocator")

# mallopt(3) parameter numbers (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc refuses a larger M_MMAP_THRESHOLD on 64-bit (HEAP_MAX_SIZE / 2).
MMAP_THRESHOLD_CEILING = 32 * 1024 * 1024

_USER_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")


def user_tuned_malloc(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Whether the environment already sets glibc's malloc thresholds."""
    return any(name in environ for name in _USER_VARIABLES) or "glibc.malloc" in environ.get("GLIBC_TUNABLES", "")


def keep_freed_memory(mib: int) -> str | None:
    """Apply ``server.keep_freed_memory_mib``; returns what was done, or None when nothing was."""
    if mib <= 0 or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or user_tuned_malloc():
        return None
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        trimmed = libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(min(mib * 1024 * 1024, 2**31 - 1)))
        mapped = libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(MMAP_THRESHOLD_CEILING))
    except (OSError, AttributeError):  # not glibc after all (a static build, another libc)
        return None
    if trimmed != 1 or mapped != 1:
        log.warning("glibc refused the malloc settings (mallopt returned %d, %d); left as they were", trimmed, mapped)
        return None
    return f"malloc keeps up to {mib} MiB freed for reuse (server.keep_freed_memory_mib)"
