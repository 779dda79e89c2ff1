"""The live state of one accepted job, shared by its worker thread and the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sfumato.errors import Code, RpcError
from sfumato.jobs.job import GenerationJob


@dataclass(frozen=True)
class ImageResult:
    """One finished image, ready to be sent: PNG bytes plus what the Answer needs."""

    index: int
    seed: int
    png: bytes
    filtered: bool
    created_ms: int


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class JobState:
    """Results only grow; the job finishes exactly once with a google.rpc code."""

    def __init__(self, job: GenerationJob, loop: asyncio.AbstractEventLoop, received_ms: int | None = None) -> None:
        self.job = job
        self.received_ms = received_ms or now_ms()
        self.enqueued_at = time.monotonic()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.results: list[ImageResult] = []
        self.code: Code | None = None
        self.message = ""
        self.step = 0
        self.total_steps = 0
        self._loop = loop
        self._lock = threading.Lock()
        self._changed = asyncio.Event()

    # ---- worker side (any thread) ----
    def _notify(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._changed.set)
        except RuntimeError:  # loop closed during shutdown: nobody is listening any more
            pass

    def add_result(self, result: ImageResult) -> None:
        with self._lock:
            if self.code is not None:
                return
            self.results.append(result)
        self._notify()

    def set_progress(self, step: int, total: int) -> None:
        # Read by metrics and status views; waking the event loop per step would cost more than it tells.
        self.step, self.total_steps = step, total

    def finish(self, code: Code, message: str = "") -> bool:
        """Record the outcome; later calls are ignored. Returns whether this call finished it."""
        with self._lock:
            if self.code is not None:
                return False
            self.code = code
            self.message = message
            self.finished_at = time.monotonic()
        self._notify()
        return True

    @property
    def done(self) -> bool:
        return self.code is not None

    @property
    def images_done(self) -> int:
        return len(self.results)

    # ---- event-loop side ----
    async def wait_changed(self, timeout: float | None = None) -> None:
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    async def stream(self) -> AsyncIterator[ImageResult]:
        """Yield each result once as it arrives; raise RpcError if the job failed."""
        sent = 0
        while True:
            self._changed.clear()
            while sent < len(self.results):
                yield self.results[sent]
                sent += 1
            if self.code is not None and sent >= len(self.results):
                if self.code != Code.OK:
                    raise RpcError(self.code, self.message)
                return
            await self._changed.wait()
