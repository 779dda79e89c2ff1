"""``sfumato worker``: load engines, take their jobs from the backbone, run them with the
same scheduler as the embedded server, publish results, heartbeats and engine descriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass, field

from sfumato.backbone.codec import decode_job, encode_result
from sfumato.backbone.connection import connect, redact
from sfumato.backbone.events import EventForwarder
from sfumato.backbone.keys import Keys
from sfumato.backbone.queue import Backbone, Taken
from sfumato.backbone.registry import EngineStatus, WorkerRecord, encode, engine_record
from sfumato.config import Settings
from sfumato.engine_pool import EnginePool, build_pool
from sfumato.errors import Code, RpcError
from sfumato.jobs.events import PreviewSettings
from sfumato.jobs.scheduler import Scheduler
from sfumato.jobs.state import JobState
from sfumato.metrics import Metrics
from sfumato.plugins import Plugins

log = logging.getLogger("sfumato.worker")

IDLE_LOOK_SECONDS = 1.0
# How often running jobs' steps are written to their job hashes.
PROGRESS_SECONDS = 0.5


@dataclass
class _Running:
    engine_id: str
    entry_id: bytes
    state: JobState
    task: asyncio.Task[None] | None = None
    events_task: asyncio.Task[None] | None = None


@dataclass
class EngineWorker:
    settings: Settings
    plugins: Plugins
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")

    def __post_init__(self) -> None:
        queue = self.settings.queue
        self.url = redact(queue.url)
        self.keys = Keys(queue.prefix)
        self.client = connect(queue.url)
        self.backbone = Backbone(self.client, self.keys, retention_seconds=self.settings.jobs.async_retention_seconds)
        self.metrics = Metrics()
        self.pool: EnginePool = build_pool(self.settings, self.plugins)
        self.scheduler = Scheduler(
            self.pool, queue_size=1 << 30, batch_window_ms=self.settings.jobs.batch_window_ms, metrics=self.metrics
        )
        self.lease_ms = int(queue.lease_seconds * 1000)
        events = self.settings.events
        self.scheduler.preview_settings = PreviewSettings(
            every_steps=events.preview_every_steps, min_interval_ms=events.preview_min_interval_ms,
            max_side=events.preview_max_side,
        )
        self.forwarder = EventForwarder(self.client, self.keys)
        self.running: dict[str, _Running] = {}
        self.stopping = asyncio.Event()
        self.room = asyncio.Event()  # set when a job ends: there may be room to take another
        self.work = asyncio.Event()  # set when a replica says it queued a job
        self.started = time.time()

    # ---- capacity: take only what the engine can start soon, leave the rest to other workers ----
    def _wanted(self) -> dict[str, int]:
        wanted = {}
        for slot in self.pool.slots.values():
            if not slot.ready:
                continue
            local = sum(1 for job in self.running.values() if job.engine_id == slot.id)
            room = 2 * slot.config.max_batch_size - local
            if room > 0:
                wanted[slot.id] = room
        return wanted

    # ---- main ----
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        for slot in self.pool.slots.values():
            await self.backbone.ensure_group(slot.id)
        self.scheduler.start()  # engines load on their worker threads
        log.info("worker %s serving %s on %s", self.worker_id, ", ".join(self.pool.slots), self.url)
        tasks = [
            loop.create_task(self._heartbeat_forever()),
            loop.create_task(self._listen_for_signals()),
            loop.create_task(self._reclaim_forever()),
            loop.create_task(self._publish_progress_forever()),
        ]
        try:
            await self._take_forever()
        finally:
            await self._shutdown(tasks)

    async def _take_forever(self) -> None:
        """Take what the engines can start soon; then wait for a job to end or a new one to be queued."""
        while not self.stopping.is_set():
            self.room.clear()
            self.work.clear()  # before looking, so a signal that arrives meanwhile is not lost
            wanted = self._wanted()
            taken: list[Taken] = []
            if wanted:
                try:
                    taken = await self.backbone.take_new(self.worker_id, wanted)
                except Exception as exc:  # noqa: BLE001 - the backbone restarts: wait and try again
                    log.warning("taking jobs from %s: %s", self.url, exc)
                    await asyncio.sleep(0.5)
                    continue
            for job in taken:
                await self._start(job)
            if not taken:
                # A missed signal (a reconnecting subscriber) costs at most this long.
                wake = [asyncio.ensure_future(self.room.wait()), asyncio.ensure_future(self.work.wait()),
                        asyncio.ensure_future(self.stopping.wait())]
                await asyncio.wait(wake, timeout=IDLE_LOOK_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                for waiter in wake:
                    waiter.cancel()

    async def _reclaim_forever(self) -> None:
        """Take over jobs whose worker died; end the ones that keep killing their workers."""
        max_attempts = self.settings.queue.max_attempts
        while not self.stopping.is_set():
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                for engine_id, entries in self._lease_groups().items():
                    await self.backbone.renew(self.worker_id, engine_id, entries)
                for engine_id, room in self._wanted().items():
                    for entry_id, job_id, attempt in await self.backbone.take_abandoned(
                        self.worker_id, engine_id, self.lease_ms, room
                    ):
                        if attempt > max_attempts:
                            log.error("job %s: its worker died %d times; giving up", job_id, attempt - 1)
                            await self.backbone.publish_end(
                                job_id, Code.INTERNAL,
                                f"the job was started {attempt - 1} times and each time its worker died "
                                f"(queue.max_attempts = {max_attempts}); it may crash the engine",
                                engine_id=engine_id, entry_id=entry_id,
                            )
                        else:
                            log.info("job %s: taking it over from a worker that stopped (attempt %d)", job_id, attempt)
                            await self._start(await self.backbone.describe_taken(engine_id, entry_id, job_id))
            except Exception as exc:  # noqa: BLE001
                log.warning("lease upkeep on %s: %s", self.url, exc)

    def _lease_groups(self) -> dict[str, list[bytes]]:
        groups: dict[str, list[bytes]] = {}
        for job in self.running.values():
            groups.setdefault(job.engine_id, []).append(job.entry_id)
        return groups

    async def _start(self, taken: Taken) -> None:
        engine_id, entry_id, job_id = taken.engine_id, taken.entry_id, taken.job_id
        if job_id in self.running:
            return
        slot = self.pool.get(engine_id)
        if not taken.state or slot is None or taken.state == "done":
            await self.backbone.ack(engine_id, entry_id)  # expired, or ended while it waited
            return
        if taken.cancel is not None:
            await self._end(engine_id, entry_id, job_id, Code.CANCELLED, taken.cancel)
            return
        try:
            job = decode_job(taken.payload)
            slot.engine.validate(job)
        except RpcError as exc:
            await self._end(engine_id, entry_id, job_id, exc.code, exc.message)
            return
        except (ValueError, TypeError) as exc:
            await self._end(engine_id, entry_id, job_id, Code.INVALID_ARGUMENT,
                            f"engine {engine_id!r} cannot run this request: {exc}")
            return
        state = JobState(job, asyncio.get_running_loop(), taken.received_ms)
        running = _Running(engine_id, entry_id, state)
        self.running[job_id] = running
        running.events_task = asyncio.get_running_loop().create_task(self.forwarder.forward(job_id, state))
        self.scheduler.submit(state, slot)
        running.task = asyncio.get_running_loop().create_task(self._forward(job_id, running))

    async def _forward(self, job_id: str, running: _Running) -> None:
        """Publish each image as it is made, then the end; a retry republishes nothing twice."""
        state = running.state
        code, message = Code.OK, ""
        try:
            async for result in state.stream():
                await self._retrying(self.backbone.publish_result, job_id, result.index, encode_result(result))
        except RpcError as exc:
            code, message = exc.code, exc.message
        if running.events_task is not None:  # its progress events go before its end
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(running.events_task), 5.0)
        await self._end(running.engine_id, running.entry_id, job_id, code, message)
        self.running.pop(job_id, None)
        self.room.set()

    async def _end(self, engine_id: str, entry_id: bytes, job_id: str, code: Code, message: str) -> None:
        await self._retrying(
            functools.partial(self.backbone.publish_end, engine_id=engine_id, entry_id=entry_id), job_id, code, message
        )

    async def _retrying(self, operation, *args):  # type: ignore[no-untyped-def]
        """The backbone may restart: keep trying, the operations are idempotent."""
        while True:
            try:
                return await operation(*args)
            except Exception as exc:  # noqa: BLE001
                if self.stopping.is_set():
                    raise
                log.warning("backbone %s: %s; retrying", self.url, exc)
                await asyncio.sleep(0.5)

    # ---- signals: cancel requests from any replica ----
    async def _listen_for_signals(self) -> None:
        while not self.stopping.is_set():
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.keys.signals)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        verb, _, job_id = message["data"].decode().partition(" ")
                        if verb == "queued":
                            self.work.set()
                            continue
                        running = self.running.get(job_id)
                        if verb == "cancel" and running is not None:
                            reason = await self.backbone.job_field(job_id, "cancel")
                            self.scheduler.cancel(running.state, reason.decode() if reason else "cancelled")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.warning("listening for cancels on %s: %s", self.url, exc)
                await asyncio.sleep(0.5)

    # ---- progress: each running job's sampler step, on its job hash ----
    async def _publish_progress_forever(self) -> None:
        published: dict[str, tuple[int, int]] = {}
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            changed = {
                job_id: (job.state.step, job.state.total_steps)
                for job_id, job in self.running.items()
                if published.get(job_id) != (job.state.step, job.state.total_steps)
            }
            published = {job_id: published.get(job_id, (0, 0)) for job_id in self.running} | changed
            if not changed:
                continue
            try:
                pipe = self.client.pipeline(transaction=False)
                for job_id, (step, total) in changed.items():
                    pipe.hset(self.keys.job(job_id), mapping={"step": step, "total_steps": total})
                await pipe.execute()
            except Exception as exc:  # noqa: BLE001 - progress is advisory
                log.debug("publishing progress: %s", exc)

    # ---- registration ----
    def _record(self) -> WorkerRecord:
        return WorkerRecord(
            id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            started=self.started,
            engines={
                slot.id: EngineStatus(ready=slot.ready, status=slot.load_status, error=slot.load_error)
                for slot in self.pool.slots.values()
            },
            running=sorted(self.running),
            progress={job_id: (job.state.step, job.state.total_steps) for job_id, job in self.running.items()},
            queued=sum(1 for job in self.running.values() if job.state.started_at is None),
        )

    async def _heartbeat_forever(self) -> None:
        beat = self.settings.queue.heartbeat_seconds
        while True:
            try:
                await self._beat(beat)
            except Exception as exc:  # noqa: BLE001
                log.warning("heartbeat to %s: %s", self.url, exc)
            await asyncio.sleep(beat)

    async def _beat(self, beat: float) -> None:
        pipe = self.client.pipeline(transaction=False)
        for slot in self.pool.slots.values():
            pipe.set(self.keys.engine(slot.id), encode(engine_record(slot)))
            pipe.sadd(self.keys.engines, slot.id)
        pipe.set(self.keys.worker(self.worker_id), encode(self._record()), px=int(3 * beat * 1000))
        pipe.sadd(self.keys.workers, self.worker_id)
        await pipe.execute()

    async def _shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        """Finish running jobs within the grace period; hand back the rest at once."""
        grace = self.settings.jobs.shutdown_grace_seconds
        deadline = time.monotonic() + grace
        while self.running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        # Unfinished jobs go back to the queue; nothing is published for them from here.
        for job in self.running.values():
            if job.task is not None:
                job.task.cancel()
        for engine_id, entries in self._lease_groups().items():
            with contextlib.suppress(Exception):
                await self.backbone.release(self.worker_id, engine_id, entries, self.lease_ms)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.client.delete(self.keys.worker(self.worker_id))
            await self.client.srem(self.keys.workers, self.worker_id)
        await asyncio.to_thread(self.scheduler.shutdown, 0.0)
        await self.client.aclose()


def run_worker(settings: Settings, plugins: Plugins, metrics_port: int | None = None) -> None:
    worker = EngineWorker(settings, plugins)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=settings.server.host, registry=worker.metrics.registry)
    asyncio.run(worker.run())

