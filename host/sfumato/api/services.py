"""The app's services, built in the lifespan and injected into controllers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any


from sfumato import _ops, wire
from sfumato.config import Settings
from sfumato.engine_pool import EnginePool, EngineSlot, build_pool
from sfumato.errors import Cancelled, Code, RpcError
from sfumato.jobs.async_store import AsyncStore
from sfumato.jobs.build import build_job, engine_not_found
from sfumato.jobs.events import JobDirectory, Listeners, PreviewSettings
from sfumato.jobs.cancel import CancelToken
from sfumato.jobs.image_work import ImageWorkBudget, plan_request_images
from sfumato.jobs.quotas import ClientQuotas
from sfumato.jobs.scheduler import Scheduler
from sfumato.jobs.state import JobState, now_ms
from sfumato.metrics import Metrics
from sfumato.plugins import Plugins
from sfumato.webhooks.request import take_webhook_url
from sfumato.webhooks.sender import WebhookSender
from sfumato.wire_codec import decode_message

log = logging.getLogger("sfumato")


@dataclass
class Services:
    settings: Settings
    plugins: Plugins
    pool: EnginePool  # or the backbone's RemoteEnginePool
    scheduler: Scheduler  # or the backbone's BackboneScheduler (same methods)
    async_store: AsyncStore
    metrics: Metrics
    quotas: ClientQuotas
    image_work: ImageWorkBudget
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    # Jobs a client may follow at GET /jobs/{id}/events, by requestId and async handle.
    directory: JobDirectory = field(default_factory=lambda: JobDirectory(600.0))
    event_listeners: Listeners = field(default_factory=lambda: Listeners(2000))
    webhooks: WebhookSender | None = None  # only when [webhooks] allow names some URLs

    @classmethod
    def create(cls, settings: Settings, plugins: Plugins) -> Services:
        if settings.server.image_threads:
            _ops.set_num_threads(settings.server.image_threads)
        metrics = Metrics()
        scheduler: Any
        store: Any
        if settings.queue.url:
            # Engines run in `sfumato worker` processes; this replica only validates and enqueues.
            from sfumato.backbone.registry import RemoteEnginePool
            from sfumato.backbone.replica import BackboneAsyncStore, BackboneScheduler

            pool: Any = RemoteEnginePool(settings.server.default_engine)
            scheduler = BackboneScheduler(settings, pool, metrics)
            store = BackboneAsyncStore(scheduler, poll_wait_seconds=settings.jobs.async_poll_wait_seconds)
        else:
            pool = build_pool(settings, plugins)
            scheduler = Scheduler(
                pool, queue_size=settings.jobs.queue_size, batch_window_ms=settings.jobs.batch_window_ms, metrics=metrics
            )
            store = AsyncStore(
                scheduler,
                retention_seconds=settings.jobs.async_retention_seconds,
                poll_wait_seconds=settings.jobs.async_poll_wait_seconds,
                max_held_bytes=settings.jobs.max_async_result_bytes,
            )
        limits = settings.limits
        image_work = ImageWorkBudget(
            slots=limits.image_work_slots, max_bytes=limits.image_work_bytes, wait_seconds=limits.image_work_wait_seconds
        )
        directory = JobDirectory(settings.events.retention_seconds, settings.events.max_retained_jobs)
        scheduler.preview_settings = PreviewSettings(
            every_steps=settings.events.preview_every_steps,
            min_interval_ms=settings.events.preview_min_interval_ms,
            max_side=settings.events.preview_max_side,
        )
        store.directory = directory
        return cls(settings, plugins, pool, scheduler, store, metrics, ClientQuotas(settings.quotas), image_work, directory=directory,
                   event_listeners=Listeners(settings.events.max_listeners),
                   webhooks=WebhookSender(settings.webhooks) if settings.webhooks.allow else None)

    # ---- request → accepted job ----
    def decode(self, body: bytes, type_: type) -> Any:
        return decode_message(
            body,
            type_,
            samplers=self.plugins.sampler_numbers(),
            adjustments={name: spec.params for name, spec in self.plugins.adjustments.items()},
            max_depth=self.settings.limits.max_json_depth,
        )

    def _slot(self, request: wire.Request) -> EngineSlot:
        slot = self.pool.get(request.engine_id or "")
        if slot is None:
            raise engine_not_found(request.engine_id, self.pool.ids())
        slot.check_available()
        return slot

    def _prepare(
        self,
        request: wire.Request,
        slot: EngineSlot,
        received_ms: int,
        loop: asyncio.AbstractEventLoop,
        cancel: CancelToken,
    ) -> JobState:
        job = build_job(
            request,
            engine_id=slot.id,
            description=slot.describe(),
            limits=slot.config.limits,
            samplers=slot.samplers,
            input_limits=self.settings.limits,
            adjustments=self.plugins.adjustments,
            test_controls=self.settings.server.test_controls,
            cancel=cancel,
        )
        try:
            slot.engine.validate(job)
        except (ValueError, TypeError) as exc:
            # A plain error from an engine's admission check means the request does not fit it.
            raise RpcError(
                Code.INVALID_ARGUMENT, f"engine {slot.id!r} cannot run this request: {type(exc).__name__}: {exc}"
            ) from exc
        except RpcError:
            raise
        except Exception as exc:  # a bug in the plugin: name it, keep the traceback in the log
            culprit = getattr(slot, "culprit", f"engine {slot.id!r}")
            log.exception("%s: validate() failed", culprit)
            raise RpcError(Code.INTERNAL, f"{culprit} failed in validate(): {type(exc).__name__}: {exc}") from exc
        return JobState(job, loop, received_ms)

    async def accept(
        self, request: wire.Request | None, *, client: str = "", cancel: CancelToken | None = None
    ) -> JobState:
        """Validate and enqueue a Request for ``client``; images are decoded and adjusted off the event loop.

        Cheap refusals (unknown engine, full queue, client quotas) come before any image
        work; image work runs within the shared :class:`ImageWorkBudget` and stops once
        ``cancel`` fires.
        """
        received = now_ms()
        loop = asyncio.get_running_loop()
        request = request or wire.Request()
        cancel = cancel or CancelToken()
        webhook_url = take_webhook_url(request, self.settings.webhooks)
        slot = self._slot(request)
        resubmitted = await self.scheduler.existing(client, request.request_id or "")
        if resubmitted is not None:
            return resubmitted
        has_artifacts = any(prompt.artifact is not None for prompt in request.prompt)
        if has_artifacts:  # refuse a full queue before any image work (enqueueing checks again, atomically)
            await self.scheduler.precheck(slot)
        with self.quotas.admit(client) as admitted:
            if has_artifacts:
                image_bytes = plan_request_images(request.prompt, self.settings.limits, self.plugins.adjustments)
                try:
                    state = await self.image_work.run(image_bytes, self._prepare, request, slot, received, loop, cancel)
                except Cancelled as exc:
                    raise RpcError(Code.CANCELLED, exc.args[0] if exc.args else "cancelled") from exc
            else:  # text-only requests validate in microseconds: no thread hop needed
                state = self._prepare(request, slot, received, loop, cancel)
            state.client = client
            state = await self.scheduler.enqueue(state, slot, client, request.request_id or "")
            self.directory.add(client, state.job.request_id, state.events)
            if webhook_url is not None and self.webhooks is not None:
                self.webhooks.watch(state, webhook_url)
            admitted(state)
        return state

    # ---- lifecycle ----
    def start(self) -> None:
        self.scheduler.start()
        if self.webhooks is not None:
            self.webhooks.start()
        self.background.append(asyncio.get_running_loop().create_task(self._purge_forever()))

    async def _purge_forever(self) -> None:
        while True:
            await asyncio.sleep(min(30.0, max(0.05, self.settings.jobs.async_retention_seconds / 4)))
            self.async_store.purge()
            self.quotas.prune()
            self.directory.purge()

    async def stop(self) -> None:
        for task in self.background:
            task.cancel()
        await self.scheduler.stop(self.settings.jobs.shutdown_grace_seconds)
        if self.webhooks is not None:
            await self.webhooks.stop()
        self.image_work.close()
