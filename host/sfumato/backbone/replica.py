"""What an API replica does with the backbone: enqueue validated jobs, follow their events,
serve AsyncResult consume-once, cancel, and keep the engine registry fresh.

The classes here stand in for the embedded scheduler and async store behind
:class:`sfumato.api.services.Services`, with the same methods.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

from sfumato.backbone.codec import decode_job, decode_result, encode_job
from sfumato.backbone.connection import connect, redact
from sfumato.backbone.events import BackboneEventReader
from sfumato.backbone.keys import Keys
from sfumato.backbone.queue import Backbone, Event
from sfumato.backbone.registry import RemoteEnginePool, RemoteSlot
from sfumato.config import Settings
from sfumato.errors import Code, RpcError
from sfumato.jobs.async_store import AsyncTake
from sfumato.jobs.state import JobState, now_ms
from sfumato.metrics import Metrics

log = logging.getLogger("sfumato.backbone")

# How long one blocking read waits before it looks again (shutdown, cancelled followers).
READ_BLOCK_MS = 1000


def backbone_unavailable(exc: Exception) -> RpcError:
    return RpcError(Code.UNAVAILABLE, f"the job backbone is unreachable ({type(exc).__name__}); retry later")


class BackboneScheduler:
    """Accepted jobs go to the backbone; each one's events are followed into its local JobState."""

    def __init__(self, settings: Settings, pool: RemoteEnginePool, metrics: Metrics) -> None:
        self.settings = settings
        self.pool = pool
        self.metrics = metrics
        self.url = redact(settings.queue.url)
        self.client = connect(settings.queue.url)
        self.keys = Keys(settings.queue.prefix)
        self.backbone = Backbone(self.client, self.keys, retention_seconds=settings.jobs.async_retention_seconds)
        self.event_reader = BackboneEventReader(self.client, self.keys, settings.events.retention_seconds)
        self.queue_size = settings.jobs.queue_size
        self.replica = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        # Weak: an entry lives as long as its state, so a job that ends before AsyncGenerate
        # registers it (fast engines) still has its id.
        self.job_ids: weakref.WeakKeyDictionary[JobState, str] = weakref.WeakKeyDictionary()
        self._ends: dict[str, JobState] = {}  # async jobs: only their end is watched, answers stay on the backbone
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._background: list[asyncio.Task[None]] = []

    # ---- lifecycle ----
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._background.append(loop.create_task(self._refresh_forever()))
        self._background.append(loop.create_task(self._watch_ends_forever()))

    async def _refresh_forever(self) -> None:
        period = max(0.2, self.settings.queue.heartbeat_seconds / 2)
        while True:
            try:
                await self.pool.refresh(self.client, self.keys)
                await self._measure_queues()
            except Exception as exc:  # noqa: BLE001 - keep serving what we know; /readyz says it
                if self.pool.reachable:
                    log.warning("backbone %s unreachable: %s", self.url, exc)
                self.pool.reachable = False
            await asyncio.sleep(period)

    async def _measure_queues(self) -> None:
        """Queue depth and the age of the oldest waiting job per engine, and live workers, for /metrics."""
        now = time.time()
        for engine_id in self.pool.slots:
            depth = await self.backbone.queued(engine_id)
            self.metrics.backbone_queue_depth.labels(engine_id).set(depth)
            oldest = await self.client.xrange(self.keys.queue(engine_id), count=1)
            age = now - int(oldest[0][0].split(b"-")[0]) / 1000 if oldest else 0.0
            self.metrics.backbone_queue_age.labels(engine_id).set(max(0.0, age))
        self.metrics.live_workers.set(len(self.pool.workers))
        memory = await self.client.info("memory")
        self.metrics.backbone_memory.set(int(memory.get("used_memory", 0)))

    async def stop(self, grace_seconds: float) -> None:
        for task in [*self._background, *self._followers.values()]:
            task.cancel()
        await self.client.aclose()

    # ---- accepting ----
    def queue_limit(self, slot: RemoteSlot) -> int:
        return slot.config.queue_size or self.queue_size

    async def precheck(self, slot: RemoteSlot) -> None:
        try:
            queued = await self.backbone.queued(slot.id)
        except Exception as exc:  # noqa: BLE001
            raise backbone_unavailable(exc) from exc
        if queued >= self.queue_limit(slot):
            raise self._queue_full(slot)

    def _queue_full(self, slot: RemoteSlot) -> RpcError:
        return RpcError(
            Code.RESOURCE_EXHAUSTED,
            f"the queue of engine {slot.id!r} is full ({self.queue_limit(slot)} jobs waiting, jobs.queue_size); retry later",
            retry_after_seconds=1.0,
        )

    async def existing(self, client: str, request_id: str) -> JobState | None:
        """The job a client already submitted under ``request_id`` (idempotent resubmits)."""
        if not request_id:
            return None
        job_id = await self.backbone.known_request(client, request_id)
        return await self._adopt(job_id) if job_id else None

    async def enqueue(self, state: JobState, slot: RemoteSlot, client: str = "", request_id: str = "") -> JobState:
        job = state.job
        job_id = uuid.uuid4().hex
        fields = {
            "payload": encode_job(job),
            "engine": slot.id,
            "request_id": job.request_id,
            "received": state.received_ms,
            "client": client,
            "state": "queued",
            "enqueued": now_ms(),
        }
        # Only a requestId the client chose makes a resubmit the same job.
        request_key = self.backbone.request_key(client, request_id)
        try:
            outcome = await self.backbone.enqueue(slot.id, job_id, fields, self.queue_limit(slot), request_key)
        except Exception as exc:  # noqa: BLE001
            raise backbone_unavailable(exc) from exc
        if isinstance(outcome, str):  # a concurrent resubmit won the race
            adopted = await self._adopt(outcome)
            if adopted is not None:
                return adopted
            raise RpcError(Code.ABORTED, f"requestId {job.request_id!r}: the job it named has expired; retry")
        if not outcome:
            self.metrics.errors.labels(slot.id, Code.RESOURCE_EXHAUSTED.name).inc()
            raise self._queue_full(slot)
        self._follow(state, job_id)
        try:
            await self.event_reader.remember(client, job.request_id, job_id)
        except Exception as exc:  # noqa: BLE001 - the job runs anyway; only its events are harder to find
            log.warning("job %s: remembering its requestId for events: %s", job_id, exc)
        return state

    async def _adopt(self, job_id: str) -> JobState | None:
        fields = await self.backbone.job(job_id)
        if not fields or b"payload" not in fields:
            return None
        state = JobState(decode_job(fields[b"payload"]), asyncio.get_running_loop(), int(fields[b"received"]))
        self._follow(state, job_id)
        return state

    def _follow(self, state: JobState, job_id: str) -> None:
        self.job_ids[state] = job_id
        task = asyncio.get_running_loop().create_task(self._follow_events(state, job_id))
        self._followers[job_id] = task
        task.add_done_callback(lambda _: self._followers.pop(job_id, None))

    async def _follow_events(self, state: JobState, job_id: str) -> None:
        after = b"0"
        while not state.done:
            try:
                events = await self.backbone.read_events(job_id, after, READ_BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the backbone restarts: wait and read on
                log.warning("reading events of job %s: %s", job_id, exc)
                await asyncio.sleep(0.5)
                continue
            for event in events:
                after = event.id
                if event.is_end:
                    state.finish(Code(event.code), event.message)
                else:
                    state.add_result(decode_result(event.data))

    def watch_end_only(self, state: JobState) -> str:
        """An async job: stop reading its answers here (AsyncResult reads them), keep its end for quotas."""
        job_id = self.job_ids[state]
        follower = self._followers.pop(job_id, None)
        if follower is not None:
            follower.cancel()
        if not state.done:
            self._ends[job_id] = state
        return job_id

    async def _watch_ends_forever(self) -> None:
        """Ends arrive as signals; a periodic look catches the ones missed while reconnecting."""
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.keys.signals)
                    last_look = time.monotonic()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None:
                            verb, _, job_id = message["data"].decode().partition(" ")
                            if verb == "end" and job_id in self._ends:
                                await self._finish_from_backbone([job_id])
                        if time.monotonic() - last_look > 2.0 and self._ends:
                            await self._finish_from_backbone(list(self._ends))
                            last_look = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.warning("watching job ends on %s: %s", self.url, exc)
                await asyncio.sleep(0.5)

    async def _finish_from_backbone(self, job_ids: list[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(self.keys.job(job_id), "state", "code", "message")
        for job_id, (state_name, code, message) in zip(job_ids, await pipe.execute(), strict=True):
            if state_name == b"done" or state_name is None:  # expired counts as ended
                state = self._ends.pop(job_id, None)
                if state is not None:
                    state.finish(Code(int(code or Code.CANCELLED)), (message or b"").decode())

    def job_id(self, state: JobState) -> str | None:
        return self.job_ids.get(state)

    def cancel(self, state: JobState, message: str = "cancelled") -> None:
        job_id = self.job_id(state)
        state.job.cancel.cancel(message)
        if job_id is not None:
            asyncio.get_running_loop().create_task(self.cancel_job(job_id, message))

    async def cancel_job(self, job_id: str, message: str) -> None:
        """Ask the worker running it to stop; a job no worker has taken yet ends here and now."""
        await self.backbone.request_cancel(job_id, message)
        if await self.backbone.job_field(job_id, "state") == b"queued":
            await self.backbone.publish_end(job_id, Code.CANCELLED, message)


@dataclass
class _Handle:
    request_id: str
    engine_id: str


class _AsyncView:
    """What answer_for needs of a job another replica may have accepted."""

    def __init__(self, request_id: str, engine_id: str, received_ms: int) -> None:
        self.job = _Handle(request_id, engine_id)
        self.received_ms = received_ms


class BackboneAsyncStore:
    """Async handles on the backbone: any replica answers AsyncResult and AsyncCancel."""

    def __init__(self, scheduler: BackboneScheduler, *, poll_wait_seconds: float) -> None:
        self.scheduler = scheduler
        self.backbone = scheduler.backbone
        self.poll_wait = poll_wait_seconds

    def __len__(self) -> int:
        return 0

    def check_capacity(self) -> None:
        """Unfetched answers live on the backbone, bounded there by their retention."""

    def purge(self) -> None:
        """The backbone expires finished jobs itself."""

    def add(self, state: JobState) -> str:
        return self.scheduler.watch_end_only(state)

    async def _fields(self, handle: str) -> dict[str, bytes | None]:
        """What AsyncResult needs of the job (not its payload: polls must stay cheap)."""
        names = ("request_id", "engine", "received", "delivered", "cancel_by_client")
        values = await self.backbone.client.hmget(self.backbone.keys.job(handle), names) if handle.isalnum() else []
        fields = dict(zip(names, values, strict=True)) if values else {}
        if fields.get("engine") is None or fields.get("delivered") == b"1":
            raise RpcError(
                Code.NOT_FOUND,
                f"asyncHandle: no such async handle {handle!r} (finished results are delivered once and kept for a limited time)",
            )
        return fields

    async def take(self, handle: str) -> AsyncTake:
        fields = await self._fields(handle)
        view = _AsyncView(fields["request_id"].decode(), fields["engine"].decode(), int(fields["received"]))  # type: ignore[union-attr,arg-type]
        cancelled = fields["cancel_by_client"] is not None
        deadline = time.monotonic() + self.poll_wait
        results = []
        while True:
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            events: list[Event] = await self.backbone.take_events(handle, self.scheduler.replica, remaining_ms)
            for event in events:
                if event.is_end:
                    await self.backbone.client.hset(self.backbone.keys.job(handle), "delivered", "1")
                    if cancelled:
                        return AsyncTake(view, [], True, Code.CANCELLED, "the job was cancelled by AsyncCancel")  # type: ignore[arg-type]
                    code = Code(event.code)
                    return AsyncTake(view, results, True, code, event.message if code != Code.OK else "")  # type: ignore[arg-type]
                if not cancelled:
                    results.append(decode_result(event.data))
            if results or time.monotonic() >= deadline:
                return AsyncTake(view, results, False)  # type: ignore[arg-type]

    async def cancel(self, handle: str) -> None:
        fields = await self._fields(handle)
        if fields["cancel_by_client"] is not None:
            raise RpcError(Code.NOT_FOUND, f"asyncHandle: no such async handle {handle!r} (already cancelled)")
        await self.backbone.client.hset(self.backbone.keys.job(handle), "cancel_by_client", "1")
        await self.scheduler.cancel_job(handle, "cancelled by AsyncCancel")
