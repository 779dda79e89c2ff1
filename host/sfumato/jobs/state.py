"""The live state of one accepted job, shared by its worker thread and the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sfumato.errors import Code, RpcError
from sfumato.jobs.events import JobEvents
from sfumato.jobs.job import GenerationJob


@dataclass(frozen=True)
class ImageResult:
    """One finished image, ready to be sent: PNG bytes plus what the Answer needs."""

    index: int
    seed: int
    png: bytes
    filtered: bool
    created_ms: int
    # Non-image results (sfumato.jobs.outputs.OutputArtifact) when the job asked for them.
    outputs: tuple[Any, ...] = ()


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
        self.engine_seconds = 0.0  # time in its engine's batches (PNG encoding included)
        self._loop = loop
        self._lock = threading.Lock()
        self._changed = asyncio.Event()
        self.client = ""  # who submitted it (API key or address): only they may follow its events
        self.events = JobEvents(loop)

    # ---- worker side (any thread) ----
    def notify(self) -> None:
        """Wake the event loop's readers of this job (results or outcome changed)."""
        try:
            self._loop.call_soon_threadsafe(self._changed.set)
        except RuntimeError:  # loop closed during shutdown: nobody is listening any more
            pass

    def add_result(self, result: ImageResult, notify: bool = True) -> None:
        """``notify=False``: the caller wakes the loop itself once it is done with the job (see Worker)."""
        with self._lock:
            if self.code is not None:
                return
            self.results.append(result)
        self.events.emit(
            "answer", {"index": result.index, "seed": result.seed, "answerId": f"{self.job.request_id}-{result.index}"}
        )
        if notify:
            self.notify()

    def set_progress(self, step: int, total: int) -> None:
        # Read by metrics and status views; waking the event loop per step would cost more than it tells.
        self.step, self.total_steps = step, total
        elapsed = time.monotonic() - (self.started_at or self.enqueued_at)
        eta = elapsed / step * (total - step) if step > 0 else None
        self.events.emit("step", {"step": step, "total": total, "elapsedSeconds": round(elapsed, 3),
                                  "etaSeconds": None if eta is None else round(eta, 3)})

    def finish(self, code: Code, message: str = "", notify: bool = True) -> bool:
        """Record the outcome; later calls are ignored. Returns whether this call finished it."""
        with self._lock:
            if self.code is not None:
                return False
            self.code = code
            self.message = message
            self.finished_at = time.monotonic()
        if code == Code.OK:
            self.events.emit("done", {})
        else:
            self.events.emit("error", {"code": int(code), "message": message})
        if notify:
            self.notify()
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
