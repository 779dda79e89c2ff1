"""The app's services, built in the lifespan and injected into controllers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from sfumato import _ops, wire
from sfumato.config import Settings
from sfumato.engine_pool import EnginePool, build_pool
from sfumato.jobs.async_store import AsyncStore
from sfumato.jobs.build import build_job, engine_not_found
from sfumato.jobs.scheduler import Scheduler
from sfumato.jobs.state import JobState, now_ms
from sfumato.metrics import Metrics
from sfumato.plugins import Plugins
from sfumato.wire_codec import decode_message

log = logging.getLogger("sfumato")


@dataclass
class Services:
    settings: Settings
    plugins: Plugins
    pool: EnginePool
    scheduler: Scheduler
    async_store: AsyncStore
    metrics: Metrics
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    def create(cls, settings: Settings, plugins: Plugins) -> Services:
        if settings.server.image_threads:
            _ops.set_num_threads(settings.server.image_threads)
        metrics = Metrics()
        pool = build_pool(settings, plugins)
        scheduler = Scheduler(
            pool, queue_size=settings.jobs.queue_size, batch_window_ms=settings.jobs.batch_window_ms, metrics=metrics
        )
        store = AsyncStore(
            scheduler,
            retention_seconds=settings.jobs.async_retention_seconds,
            poll_wait_seconds=settings.jobs.async_poll_wait_seconds,
        )
        return cls(settings, plugins, pool, scheduler, store, metrics)

    # ---- request → accepted job ----
    def decode(self, body: bytes, type_: type) -> Any:
        return decode_message(
            body,
            type_,
            samplers=self.plugins.sampler_numbers(),
            adjustments={name: spec.params for name, spec in self.plugins.adjustments.items()},
        )

    def _prepare(self, request: wire.Request, received_ms: int, loop: asyncio.AbstractEventLoop) -> JobState:
        slot = self.pool.get(request.engine_id or "")
        if slot is None:
            raise engine_not_found(request.engine_id, self.pool.ids())
        slot.check_available()
        job = build_job(
            request,
            engine_id=slot.id,
            description=slot.describe(),
            limits=slot.config.limits,
            samplers=slot.samplers,
            input_limits=self.settings.limits,
            adjustments=self.plugins.adjustments,
        )
        slot.engine.validate(job)
        return JobState(job, loop, received_ms)

    async def accept(self, request: wire.Request | None) -> JobState:
        """Validate and enqueue a Request; images are decoded and adjusted off the event loop."""
        received = now_ms()
        loop = asyncio.get_running_loop()
        self.scheduler.check_capacity()  # refuse cheaply under overload, before any image work
        request = request or wire.Request()
        if any(prompt.artifact is not None for prompt in request.prompt):
            state = await anyio.to_thread.run_sync(self._prepare, request, received, loop)
        else:  # text-only requests validate in microseconds: no thread hop needed
            state = self._prepare(request, received, loop)
        slot = self.pool.get(state.job.engine_id)
        assert slot is not None
        self.scheduler.submit(state, slot)
        return state

    # ---- lifecycle ----
    def start(self) -> None:
        self.scheduler.start()
        self.background.append(asyncio.get_running_loop().create_task(self._purge_forever()))

    async def _purge_forever(self) -> None:
        while True:
            await asyncio.sleep(min(30.0, max(0.05, self.settings.jobs.async_retention_seconds / 4)))
            self.async_store.purge()

    async def stop(self) -> None:
        for task in self.background:
            task.cancel()
        await anyio.to_thread.run_sync(self.scheduler.shutdown, self.settings.jobs.shutdown_grace_seconds)
