"""Async handles (API.md §7): consume-once results, retention after completion, cancel."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sfumato.errors import Code, RpcError
from sfumato.jobs.events import JobDirectory
from sfumato.jobs.scheduler import Scheduler
from sfumato.jobs.state import ImageResult, JobState


@dataclass
class AsyncTake:
    state: JobState
    results: list[ImageResult]
    complete: bool
    code: Code = Code.OK
    message: str = ""


@dataclass
class _Entry:
    state: JobState
    delivered: int = 0
    # Set by AsyncCancel: the next AsyncResult says so once, then the handle is gone.
    cancelled: bool = False

    @property
    def held_bytes(self) -> int:
        return 0 if self.cancelled else sum(len(result.png) for result in self.state.results[self.delivered :])


def _gone(handle: str) -> RpcError:
    return RpcError(Code.NOT_FOUND, f"asyncHandle: no such async handle {handle!r} (finished results are delivered once and kept for a limited time)")


class AsyncStore:
    def __init__(
        self, scheduler: Scheduler, *, retention_seconds: float, poll_wait_seconds: float, max_held_bytes: int
    ) -> None:
        self.scheduler = scheduler
        self.retention = retention_seconds
        self.poll_wait = poll_wait_seconds
        self.max_held_bytes = max_held_bytes
        self._entries: dict[str, _Entry] = {}
        self.directory: JobDirectory | None = None  # where GET /jobs/{handle}/events finds the job

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def held_bytes(self) -> int:
        """PNG bytes produced for async jobs and not yet fetched."""
        return sum(entry.held_bytes for entry in self._entries.values())

    def check_capacity(self) -> None:
        """New async jobs wait until clients fetch what is held; accepted ones always finish."""
        self.purge()
        held = self.held_bytes
        if held >= self.max_held_bytes:
            raise RpcError(
                Code.RESOURCE_EXHAUSTED,
                f"{held >> 20} MiB of async results are waiting to be fetched (jobs.max_async_result_bytes); "
                "fetch them with AsyncResult, or retry later",
                retry_after_seconds=5.0,
            )

    def add(self, state: JobState) -> str:
        self.purge()
        handle = uuid.uuid4().hex
        self._entries[handle] = _Entry(state)
        if self.directory is not None:
            self.directory.add(state.client, handle, state.events)
        return handle

    def purge(self) -> None:
        """Forget jobs that finished more than ``retention`` seconds ago."""
        cutoff = time.monotonic() - self.retention
        expired = [
            handle
            for handle, entry in self._entries.items()
            if entry.state.finished_at is not None and entry.state.finished_at < cutoff
        ]
        for handle in expired:
            del self._entries[handle]

    def _get(self, handle: str) -> _Entry:
        self.purge()
        entry = self._entries.get(handle)
        if entry is None:
            raise _gone(handle)
        return entry

    def _take_now(self, handle: str, entry: _Entry) -> AsyncTake:
        # No await between reading and advancing: concurrent pollers never share a result.
        state = entry.state
        if entry.cancelled:
            del self._entries[handle]
            return AsyncTake(state, [], True, Code.CANCELLED, "the job was cancelled by AsyncCancel")
        fresh = state.results[entry.delivered :]
        entry.delivered += len(fresh)
        if state.done and entry.delivered >= len(state.results):
            del self._entries[handle]
            assert state.code is not None
            return AsyncTake(state, fresh, True, state.code, state.message if state.code != Code.OK else "")
        return AsyncTake(state, fresh, False)

    async def take(self, handle: str) -> AsyncTake:
        entry = self._get(handle)
        taken = self._take_now(handle, entry)
        if taken.results or taken.complete:
            return taken
        deadline = time.monotonic() + self.poll_wait
        while (remaining := deadline - time.monotonic()) > 0:
            await entry.state.wait_changed(remaining)  # progress updates wake us too
            if self._entries.get(handle) is not entry:
                raise _gone(handle)
            taken = self._take_now(handle, entry)
            if taken.results or taken.complete:
                return taken
        return taken

    async def cancel(self, handle: str) -> None:
        """Stop the job and drop its undelivered answers; the handle stays for one AsyncResult that says so."""
        entry = self._get(handle)
        if entry.cancelled:
            raise _gone(handle)
        entry.cancelled = True
        if not entry.state.done:
            self.scheduler.cancel(entry.state, "cancelled by AsyncCancel")
