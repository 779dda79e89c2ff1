"""A job's progress as an ordered list of events, and where listeners find jobs by id.

Every accepted job carries a :class:`JobEvents`: the scheduler and the job state
append to it from any thread (``queued``, ``started``, ``step``, ``preview``,
``answer``, then ``done`` or ``error``); event-loop listeners (the SSE route, the
webhook sender) read it from any position. On the backbone, workers forward the
same events to a per-job stream, so a listener on any replica reads the same
sequence (see :mod:`sfumato.backbone.events`).
"""

from __future__ import annotations

import asyncio
import base64
import io
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from sfumato.errors import Code, RpcError

TERMINAL = frozenset({"done", "error"})

# Events a job keeps; the oldest go first (previews are the bulky ones, so they are capped apart).
MAX_EVENTS_PER_JOB = 4096
MAX_PREVIEWS_PER_JOB = 8


@dataclass(frozen=True)
class JobEvent:
    """One event: ``id`` increases per job from 1; ``data`` has camelCase keys (the wire format)."""

    id: int
    name: str
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.name in TERMINAL

    def json(self) -> bytes:
        return msgspec.json.encode(self.data)


@dataclass(frozen=True)
class PreviewSettings:
    """When the host asks an engine for a preview (the ``[events]`` settings)."""

    every_steps: int = 1
    min_interval_ms: float = 250.0
    max_side: int = 256


def superseded_steps_dropped(batch: list[JobEvent]) -> list[JobEvent]:
    """The batch without ``step`` events that a later ``step`` of the same batch supersedes.

    A listener of a fast job reads progress a few times a second; the steps between say
    nothing the last one does not. Ids stay increasing (with gaps), so resuming still works.
    """
    last_step = max((i for i, event in enumerate(batch) if event.name == "step"), default=-1)
    return [event for i, event in enumerate(batch) if event.name != "step" or i == last_step]


def encode_preview(pixels: np.ndarray, max_side: int) -> tuple[bytes, int, int]:
    """A small JPEG of an H×W×3 (or ×4) uint8 image, its longer side at most ``max_side``."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(pixels[..., :3]))
    scale = min(1.0, max_side / max(image.width, image.height))
    if scale < 1.0:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue(), image.width, image.height


class JobEvents:
    """The events of one job. Appends come from any thread; reads from the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._events: deque[JobEvent] = deque(maxlen=MAX_EVENTS_PER_JOB)
        self._previews: deque[int] = deque()
        self._next_id = 1
        self._changed: asyncio.Event | None = None
        self.listeners = 0
        self.preview_listeners = 0
        # Set by a backbone worker when a listener on some replica wants previews.
        self.remote_preview_wanted = False
        self._last_preview_step = -(10**9)
        self.ended_at: float | None = None  # monotonic time of the terminal event
        self._last_preview_at = 0.0
        self.on_event: Callable[[JobEvent], None] | None = None

    # ---- writers (any thread) ----
    def emit(self, name: str, data: dict[str, Any]) -> JobEvent:
        with self._lock:
            if self._events and self._events[-1].terminal:
                return self._events[-1]  # nothing follows the end
            event = JobEvent(self._next_id, name, data)
            self._next_id += 1
            self._events.append(event)
            if name == "preview":
                self._previews.append(event.id)
                if len(self._previews) > MAX_PREVIEWS_PER_JOB:
                    self._drop(self._previews.popleft())
            elif event.terminal:
                self.ended_at = time.monotonic()
                self._drop_previews()  # a finished job replays its outcome, not its drafts
        if self.listeners or event.terminal or self.on_event is not None:
            self._wake()
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _drop(self, event_id: int) -> None:
        for position, event in enumerate(self._events):
            if event.id == event_id:
                del self._events[position]
                return

    def _drop_previews(self) -> None:
        dropped = set(self._previews)
        self._previews.clear()
        if dropped:
            kept = [event for event in self._events if event.id not in dropped]
            self._events.clear()
            self._events.extend(kept)

    def wants_preview(self, step: int, settings: PreviewSettings) -> bool:
        """Whether a listener wants a preview now (every N steps, at most one per T ms)."""
        if not (self.preview_listeners or self.remote_preview_wanted):
            return False
        now = time.monotonic()
        if step - self._last_preview_step < settings.every_steps:
            return False
        if (now - self._last_preview_at) * 1000.0 < settings.min_interval_ms:
            return False
        self._last_preview_step, self._last_preview_at = step, now
        return True

    def add_preview(self, step: int, index: int, pixels: np.ndarray, max_side: int) -> None:
        jpeg, width, height = encode_preview(pixels, max_side)
        self.emit(
            "preview",
            {"step": step, "mime": "image/jpeg", "width": width, "height": height,
             "image": base64.b64encode(jpeg).decode("ascii"), "index": index},
        )

    def _wake(self) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._wake_on_loop)
        except RuntimeError:  # loop closed during shutdown
            pass

    def _wake_on_loop(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    # ---- readers (event loop) ----
    @property
    def last(self) -> JobEvent | None:
        with self._lock:
            return self._events[-1] if self._events else None

    def after(self, last_id: int) -> list[JobEvent]:
        """The events with ids above ``last_id``; from the newest end, so a listener that keeps up pays for what is new."""
        fresh: list[JobEvent] = []
        with self._lock:
            for event in reversed(self._events):
                if event.id <= last_id:
                    break
                fresh.append(event)
        fresh.reverse()
        return fresh

    async def follow(
        self,
        after: int = 0,
        *,
        previews: bool = False,
        heartbeat: float = 15.0,
        pace: float = 0.0,
        ask_previews: bool | None = None,
    ) -> AsyncIterator[list[JobEvent]]:
        """Batches of the events after id ``after``, until the terminal one; an empty batch after
        ``heartbeat`` seconds of quiet. After a batch it waits ``pace`` seconds, so a listener
        of a fast job gets a few writes a second instead of one per step; with a pace, the
        steps a later step of the same batch supersedes are left out (not in the first batch,
        which replays what happened before the listener came).

        With ``previews``, preview events are included, and (unless ``ask_previews`` is false)
        the engine is asked for them while this listener lasts.
        """
        asking = previews if ask_previews is None else ask_previews
        after_first = False
        self.listeners += 1
        self.preview_listeners += asking
        try:
            while True:
                if self._changed is None:
                    self._changed = asyncio.Event()
                changed = self._changed
                fresh = self.after(after)
                if fresh:
                    batch = [event for event in fresh if previews or event.name != "preview"]
                    if pace > 0 and after_first:
                        batch = superseded_steps_dropped(batch)
                    after, after_first = fresh[-1].id, True
                    if batch:
                        yield batch
                    if fresh[-1].terminal:
                        return
                    if pace > 0:
                        await asyncio.sleep(pace)
                    continue
                try:
                    await asyncio.wait_for(changed.wait(), heartbeat)
                except TimeoutError:
                    yield []
        finally:
            self.listeners -= 1
            self.preview_listeners -= asking


class JobDirectory:
    """The events of jobs a client may follow, by request id or async handle, kept ``retention``
    seconds after they end (the events only: a job's images are not held here).

    Keys include the client, so another client's id is simply not found. At most ``max_jobs``
    are kept; beyond it the oldest entries go first.
    """

    def __init__(self, retention_seconds: float, max_jobs: int = 10_000) -> None:
        self.retention = retention_seconds
        self.max_jobs = max_jobs
        self._jobs: dict[tuple[str, str], JobEvents] = {}

    def add(self, client: str, key: str, events: JobEvents) -> None:
        if not key:
            return
        self._jobs.pop((client, key), None)  # the newest job of a resubmitted requestId wins
        self._jobs[(client, key)] = events
        if len(self._jobs) > self.max_jobs:
            self.purge()
            while len(self._jobs) > self.max_jobs:
                del self._jobs[next(iter(self._jobs))]

    def get(self, client: str, key: str) -> JobEvents | None:
        events = self._jobs.get((client, key))
        if events is not None and self._expired(events, time.monotonic()):
            del self._jobs[(client, key)]
            return None
        return events

    def _expired(self, events: JobEvents, now: float) -> bool:
        return events.ended_at is not None and events.ended_at < now - self.retention

    def purge(self) -> None:
        now = time.monotonic()
        for key in [key for key, events in self._jobs.items() if self._expired(events, now)]:
            del self._jobs[key]


class Listeners:
    """Open event streams, all clients: a bound so a flood of listeners cannot exhaust the server."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def admit(self) -> None:
        if self.open >= self.limit:
            raise RpcError(
                Code.RESOURCE_EXHAUSTED,
                f"{self.open} event streams are open (events.max_listeners); retry later",
                retry_after_seconds=5.0,
            )
        self.open += 1
