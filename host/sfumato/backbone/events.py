"""Job events on the backbone: one capped stream per job, written by its worker, read by any replica.

Stream entry ids are ``<n>-1`` where ``n`` is the job's event number (a counter on
the job hash), so the SSE ``id:`` a client resumes from names a stream position on
every replica, and a worker that takes a job over continues the numbering. The
replica writes ``queued`` (in the enqueue script), the worker ``started`` … ``answer``,
and the end script ``done``/``error``: each job's stream ends with exactly one of those.

A replica whose listener wants previews sets ``previews_until`` (ms) on the job hash
and keeps it fresh; the worker running the job asks its engine for previews meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from sfumato.backbone.keys import Keys
from sfumato.jobs.events import JobEvent, superseded_steps_dropped
from sfumato.jobs.state import JobState

log = logging.getLogger("sfumato.backbone")

# Entries a job's stream keeps (approximately; previews are only written while someone watches).
STREAM_MAX_EVENTS = 1024
# How long a listener's wish for previews lasts without being renewed, and how often it is renewed.
PREVIEW_WISH_MS = 3000
PREVIEW_RENEW_SECONDS = 1.0
# Events from the worker's local job travel in one round trip per this many.
FORWARD_BATCH = 64

# KEYS: job hash, events stream; ARGV: max length, then name/data pairs. Returns the last event number.
APPEND_SCRIPT = """
local n = 0
for i = 2, #ARGV, 2 do
  n = redis.call('HINCRBY', KEYS[1], 'event_seq', 1)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], n .. '-1', 'n', ARGV[i], 'd', ARGV[i + 1])
end
return n
"""

# Lua fragments the enqueue and end scripts of sfumato.backbone.queue include (they hold the keys named).
QUEUED_EVENT_LUA = """
local seq = redis.call('HINCRBY', KEYS[3], 'event_seq', 1)
redis.call('XADD', KEYS[7], seq .. '-1', 'n', 'queued', 'd',
  '{"position":' .. (queued) .. ',"estimatedStartSeconds":null}')
"""
END_EVENT_LUA = """
local seq = redis.call('HINCRBY', KEYS[3], 'event_seq', 1)
redis.call('XADD', KEYS[6], seq .. '-1', 'n', ARGV[6], 'd', ARGV[7])
redis.call('EXPIRE', KEYS[6], ARGV[3])
"""


def end_event(code: int, message: str) -> tuple[str, bytes]:
    """The name and data of a job's last event."""
    if code == 0:
        return "done", b"{}"
    return "error", msgspec.json.encode({"code": int(code), "message": message})


def _event(entry_id: bytes, fields: dict[bytes, bytes]) -> JobEvent:
    number = int(entry_id.split(b"-", 1)[0])
    return JobEvent(number, fields[b"n"].decode(), msgspec.json.decode(fields[b"d"]))


class BackboneEventReader:
    """What ``GET /jobs/{id}/events`` reads on an API replica."""

    def __init__(self, client: Any, keys: Keys, retention_seconds: float) -> None:
        self.client = client
        self.keys = keys
        self.retention = max(1, int(retention_seconds))

    async def remember(self, client_id: str, request_id: str, job_id: str) -> None:
        """Let ``client_id`` find the job by its requestId too."""
        await self.client.set(self.keys.event_lookup(client_id, request_id), job_id, ex=self.retention)

    async def find(self, client_id: str, job_id: str) -> str | None:
        """The job id for an async handle or requestId that ``client_id`` submitted."""
        if job_id.isalnum():  # a handle is the job id
            owner = await self.client.hget(self.keys.job(job_id), "client")
            if owner is not None and owner.decode() == client_id:
                return job_id
        found = await self.client.get(self.keys.event_lookup(client_id, job_id))
        return found.decode() if found else None

    async def follow(
        self, job_id: str, after: int = 0, *, previews: bool = False, heartbeat: float = 15.0, pace: float = 0.0
    ) -> AsyncIterator[list[JobEvent]]:
        """Like :meth:`sfumato.jobs.events.JobEvents.follow`, from the job's stream."""
        stream = self.keys.progress(job_id)
        position = f"{after}-1".encode() if after else b"0"
        quiet_since = time.monotonic()
        renewed = 0.0
        first = True
        block_ms = int(min(heartbeat, PREVIEW_RENEW_SECONDS if previews else heartbeat) * 1000)
        while True:
            if previews and time.monotonic() - renewed >= PREVIEW_RENEW_SECONDS:
                renewed = time.monotonic()
                await self.client.hset(self.keys.job(job_id), "previews_until", int(time.time() * 1000) + PREVIEW_WISH_MS)
            reply = await self.client.xread({stream: position}, count=256, block=max(1, block_ms))
            entries = [entry for _, items in reply or () for entry in items]
            if entries:
                position = entries[-1][0]
                events = [_event(entry_id, fields) for entry_id, fields in entries]
                batch = [event for event in events if previews or event.name != "preview"]
                if pace > 0 and not first:
                    batch = superseded_steps_dropped(batch)
                first = False
                if batch:
                    yield batch
                if events[-1].terminal:
                    return
                quiet_since = time.monotonic()
                if pace > 0:
                    await asyncio.sleep(pace)
            elif time.monotonic() - quiet_since >= heartbeat:
                quiet_since = time.monotonic()
                yield []
                if not await self.client.exists(self.keys.job(job_id)):
                    return  # expired without an end (its stream is gone too)


class EventForwarder:
    """On a worker: copies a running job's local events to its backbone stream, and the replicas'
    wish for previews back to the job."""

    def __init__(self, client: Any, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._append = client.register_script(APPEND_SCRIPT)

    async def forward(self, job_id: str, state: JobState) -> None:
        """Until the job's local end; the end itself is published by the end script."""
        keys = [self.keys.job(job_id), self.keys.progress(job_id)]
        batch: list[Any] = []
        looked = 0.0
        async for events in state.events.follow(0, previews=True, heartbeat=PREVIEW_RENEW_SECONDS, ask_previews=False):
            for event in events:
                if event.name not in ("queued", "done", "error"):
                    batch += [event.name, event.json()]
                if len(batch) >= 2 * FORWARD_BATCH:
                    await self._send(keys, batch)
                    batch = []
            if batch:
                await self._send(keys, batch)
                batch = []
            if events and events[-1].terminal:
                break
            if time.monotonic() - looked >= PREVIEW_RENEW_SECONDS / 2:
                looked = time.monotonic()
                await self._refresh_wish(job_id, state)

    async def _send(self, keys: list[str], batch: list[Any]) -> None:
        for attempt in range(20):  # the backbone may be restarting; progress is advisory after that
            try:
                await self._append(keys=keys, args=[STREAM_MAX_EVENTS, *batch])
                return
            except Exception as exc:  # noqa: BLE001
                log.debug("forwarding events: %s", exc)
                await asyncio.sleep(0.25 * (attempt + 1))

    async def _refresh_wish(self, job_id: str, state: JobState) -> None:
        try:
            until = await self.client.hget(self.keys.job(job_id), "previews_until")
        except Exception:  # noqa: BLE001
            return
        state.events.remote_preview_wanted = bool(until) and int(until) > time.time() * 1000
