"""The scheduler: a bounded queue and one worker thread per device.

The event loop only enqueues and reads results; engines run on worker threads.
Compatible jobs (equal ``engine.batch_key``) share batches up to the engine's
``max_batch_size``; jobs are served oldest first, so none starves.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from sfumato.engine_pool import EnginePool, EngineSlot
from sfumato.errors import Cancelled, Code, RpcError
from sfumato.images import encode_png
from sfumato.jobs.cancel import BatchCancelToken
from sfumato.jobs.compose import composite
from sfumato.jobs.events import PreviewSettings
from sfumato.jobs.job import GeneratedImage, ImageTask
from sfumato.jobs.outputs import check_outputs
from sfumato.jobs.state import ImageResult, JobState, now_ms
from sfumato.metrics import Metrics

log = logging.getLogger("sfumato.scheduler")

# After a batch that served several jobs, their clients send their next requests one by one (a few
# ms apart on one host, a network round trip apart elsewhere). For this long after such a batch, a
# lone job waits for the others, until as many jobs wait as that batch served; the most it costs a
# truly lone job is one batch_window_ms.
CLIENTS_RETURN_SECONDS = 0.5
# While a batch fills, each arriving job restarts the batch_window_ms wait for the next one; this
# many windows bound the whole wait.
FILL_WINDOWS = 4


@dataclass
class _Pending:
    state: JobState
    slot: EngineSlot
    key: Hashable
    next_index: int = 0
    announced: int = -1  # the queue position last sent in a ``queued`` event

    @property
    def waiting(self) -> bool:
        return self.next_index == 0


class EngineContractError(Exception):
    """An engine answered in a way the contract forbids (wrong image count, shape, type)."""


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "OutOfMemory" in type(exc).__name__ or "out of memory" in str(exc).lower()


class Worker(threading.Thread):
    """Loads its engines, then runs batches for them one at a time."""

    def __init__(self, name: str, slots: list[EngineSlot], scheduler: Scheduler) -> None:
        super().__init__(name=f"sfumato-worker-{name}", daemon=True)
        self.slots = slots
        self.scheduler = scheduler
        self.pending: list[_Pending] = []
        self.current: list[JobState] = []
        self.task_states: list[JobState] = []
        self.stopping = False
        self.last_batch_jobs = 0  # jobs the previous batch served, and when it ended (monotonic)
        self.last_batch_ended = 0.0
        # Its own wake-up on the scheduler's one lock: a job for one engine wakes only that engine's
        # thread, not every worker (each woken thread would take the GIL from the event loop for nothing).
        self.wakeup = threading.Condition(scheduler.lock)

    # ---- loading ----
    def _load(self, slot: EngineSlot) -> None:
        def report(line: str) -> None:
            slot.load_status = line
            log.info("engine %s: %s", slot.id, line)

        if slot.load_error is not None:  # refused when the pool was built (a bad default sampler…)
            return
        started = time.monotonic()
        try:
            report("loading")
            slot.engine.load(report)
        except Exception as exc:  # a broken model must not take the server down
            slot.load_error = f"{type(exc).__name__}: {exc}"
            slot.load_status = "failed"
            log.exception("engine %s failed to load", slot.id)
            self._fail_slot(slot, RpcError(Code.UNAVAILABLE, f"engine {slot.id!r} failed to load: {slot.load_error}"))
            return
        slot.ready = True
        slot.load_status = f"ready ({time.monotonic() - started:.1f}s)"
        self.scheduler.metrics.engine_ready.labels(slot.id).set(1)
        log.info("engine %s ready in %.1fs", slot.id, time.monotonic() - started)

    def _fail_slot(self, slot: EngineSlot, error: RpcError) -> None:
        with self.scheduler.lock:
            doomed = [p for p in self.pending if p.slot is slot]
            self.pending = [p for p in self.pending if p.slot is not slot]
        for pending in doomed:
            self.scheduler.finish(pending.state, error.code, error.message)

    # ---- main loop ----
    def run(self) -> None:
        for slot in self.slots:
            self._load(slot)
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            slot, tasks = batch
            jobs = len(self.current)
            self._run_batch(slot, tasks)
            self.last_batch_jobs, self.last_batch_ended = jobs, time.monotonic()

    def _next_batch(self) -> tuple[EngineSlot, list[ImageTask]] | None:
        condition = self.wakeup
        with condition:
            while True:
                self.pending = [p for p in self.pending if not p.state.done]
                ready = [p for p in self.pending if p.slot.ready]
                if ready:
                    break
                if self.stopping:
                    return None
                condition.wait()
            head = ready[0]
            limit = head.slot.config.max_batch_size
            window = self.scheduler.batch_window
            # Under load, wait a few ms for compatible work to fill the batch; idle: start at once.
            returning = self._clients_returning()
            if window > 0 and (len(self.pending) > 1 or returning) and self._available(head) < limit:
                self._fill(head, limit, window, self.last_batch_jobs if returning else limit)
            tasks: list[ImageTask] = []
            for pending in self._compatible(head):
                job = pending.state.job
                while pending.next_index < job.samples and len(tasks) < limit:
                    if pending.waiting:
                        self.scheduler.on_started(pending.state)
                    tasks.append(ImageTask(job=job, index=pending.next_index, seed=job.seeds[pending.next_index]))
                    pending.next_index += 1
                if pending.next_index >= job.samples:
                    self.pending.remove(pending)
                if len(tasks) >= limit:
                    break
            self.task_states = [self.scheduler.states_by_job[id(task.job)] for task in tasks]
            self.current = list(dict.fromkeys(self.task_states))
            self.scheduler._announce_positions(self)
            return head.slot, tasks

    def _fill(self, head: _Pending, limit: int, window: float, expected_jobs: int) -> None:
        """Wait while compatible work keeps arriving (called holding the scheduler's lock, which the
        wait releases): each new job gives the next one another ``window``, up to ``FILL_WINDOWS``
        windows in all. Stops once the batch is full or ``expected_jobs`` compatible jobs wait."""
        began = time.monotonic()
        deadline, cap = began + window, began + FILL_WINDOWS * window
        available, jobs = self._available(head), len(self._compatible(head))
        while available < limit and jobs < expected_jobs and not self.stopping:
            remaining = min(deadline, cap) - time.monotonic()
            if remaining <= 0:
                return
            self.wakeup.wait(remaining)
            now_available = self._available(head)
            if now_available > available:
                deadline = time.monotonic() + window
            available, jobs = now_available, len(self._compatible(head))

    def _compatible(self, head: _Pending) -> list[_Pending]:
        """The waiting or running jobs that may share ``head``'s batch, oldest first."""
        return [p for p in self.pending if p.slot is head.slot and p.key == head.key and not p.state.done]

    def _clients_returning(self) -> bool:
        """Whether the work just queued is likely the first of several clients coming back from a
        batch that answered them all: then a lone job is not a sign of an idle server."""
        return self.last_batch_jobs > 1 and time.monotonic() - self.last_batch_ended < CLIENTS_RETURN_SECONDS

    def _available(self, head: _Pending) -> int:
        return sum(p.state.job.samples - p.next_index for p in self._compatible(head))

    def _run_batch(self, slot: EngineSlot, tasks: list[ImageTask]) -> None:
        metrics = self.scheduler.metrics
        states = self.current
        task_states = self.task_states
        token = BatchCancelToken(state.job.cancel for state in states)

        preview_settings = self.scheduler.preview_settings

        def progress(step: int, total: int, preview: Callable[[], Sequence[np.ndarray]] | None = None) -> None:
            for state in states:
                state.set_progress(step, total)
            # An engine that can preview passes a function; it runs only while a listener wants one.
            if preview is not None and any([state.events.wants_preview(step, preview_settings) for state in states]):
                self._send_previews(step, tasks, task_states, preview)

        started = time.monotonic()
        try:
            images = slot.engine.generate(tasks, progress, token)
            if not isinstance(images, (list, tuple)) or len(images) != len(tasks):
                count = f"{len(images)} images" if isinstance(images, (list, tuple)) else f"a {type(images).__name__}"
                raise EngineContractError(f"generate() returned {count} for {len(tasks)} tasks")
            results = [self._finish_image(task, image) for task, image in zip(tasks, images, strict=True)]
        except Cancelled:
            for state in states:
                if state.job.cancel.cancelled:
                    self.scheduler.finish(state, Code.CANCELLED, "cancelled")
                else:  # cannot happen with BatchCancelToken, but never leave a job hanging
                    self.scheduler.finish(state, Code.ABORTED, "the batch was cancelled by another request")
            return
        except RpcError as exc:
            self._fail(states, exc.code, exc.message)
            return
        except EngineContractError as exc:  # the engine broke the contract: a plugin bug, not the request's fault
            log.exception("%s broke the engine contract on a batch of %d", slot.culprit, len(tasks))
            self._fail(states, Code.INTERNAL, f"{slot.culprit} failed: {exc}")
            return
        except Exception as exc:  # an engine bug fails only this batch
            code = Code.RESOURCE_EXHAUSTED if _is_out_of_memory(exc) else Code.INTERNAL
            log.exception("%s failed on a batch of %d", slot.culprit, len(tasks))
            self._fail(states, code, f"{slot.culprit} failed: {type(exc).__name__}: {exc}")
            gc.collect()
            return
        finally:
            self.current = []
        elapsed = time.monotonic() - started
        metrics.generation_time.labels(slot.id).observe(elapsed)
        self.scheduler.record_batch_time(slot.id, elapsed)
        for state in states:
            state.engine_seconds += elapsed
        metrics.batch_size.labels(slot.id).observe(len(tasks))
        for task, state, result in zip(tasks, task_states, results, strict=True):
            if task.job.cancel.cancelled:
                continue
            state.add_result(result, notify=False)
            metrics.images.labels(slot.id).inc()
        # One wake-up of the event loop per job, after its bookkeeping (finish notifies).
        for state in states:
            if len(state.results) >= state.job.samples:
                self.scheduler.finish(state, Code.OK)
            else:
                state.notify()

    def _send_previews(
        self, step: int, tasks: list[ImageTask], task_states: list[JobState], preview: Callable[[], Sequence[np.ndarray]]
    ) -> None:
        try:
            images = list(preview())
            if len(images) != len(tasks):
                raise EngineContractError(f"the preview function returned {len(images)} images for {len(tasks)} tasks")
            max_side = self.scheduler.preview_settings.max_side
            for task, state, image in zip(tasks, task_states, images, strict=True):
                if state.events.preview_listeners or state.events.remote_preview_wanted:
                    state.events.add_preview(step, task.index, np.asarray(image), max_side)
        except Exception:  # a preview is a courtesy: a broken one never fails the job
            log.warning("engine preview at step %d failed", step, exc_info=True)

    def _fail(self, states: list[JobState], code: Code, message: str) -> None:
        with self.scheduler.lock:
            self.pending = [p for p in self.pending if p.state not in states]
        for state in states:
            self.scheduler.finish(state, code, message)

    @staticmethod
    def _finish_image(task: ImageTask, image: GeneratedImage) -> ImageResult:
        job = task.job
        if not isinstance(image, GeneratedImage):
            raise EngineContractError(f"generate() returned a {type(image).__name__}, not a GeneratedImage")
        pixels = image.pixels
        expected = f"{job.height}×{job.width}×3 (or ×4) uint8"
        if not isinstance(pixels, np.ndarray):
            raise EngineContractError(f"generate() returned pixels of type {type(pixels).__name__}, expected {expected}")
        if (
            pixels.ndim != 3
            or pixels.shape[0] != job.height
            or pixels.shape[1] != job.width
            or pixels.shape[2] not in (3, 4)
            or pixels.dtype != np.uint8
        ):
            raise EngineContractError(
                f"generate() returned an image of shape {tuple(pixels.shape)} and dtype {pixels.dtype}, expected {expected}"
            )
        if job.composite_mask is not None and job.init_image is not None:
            pixels = composite(job.init_image, pixels, job.composite_mask)
        try:
            outputs = check_outputs(job, image.outputs)
        except ValueError as exc:
            raise EngineContractError(str(exc)) from None
        parameters = dict(job.describe(), seed=task.seed, index=task.index)
        png = encode_png(pixels, text={"sfumato": json.dumps(parameters, separators=(",", ":"))})
        return ImageResult(
            index=task.index,
            seed=task.seed,
            png=png,
            filtered=image.filtered,
            created_ms=now_ms(),
            outputs=outputs,
        )


class Scheduler:
    def __init__(self, pool: EnginePool, *, queue_size: int, batch_window_ms: float, metrics: Metrics) -> None:
        self.pool = pool
        self.queue_size = queue_size
        self.batch_window = batch_window_ms / 1000.0
        self.metrics = metrics
        self.lock = threading.RLock()  # guards every worker's pending list and states_by_job
        self.states_by_job: dict[int, JobState] = {}
        self.workers: dict[str, Worker] = {}
        self.accepting = True
        self.preview_settings = PreviewSettings()
        self._batch_seconds: dict[str, float] = {}  # per engine, a moving average: estimated start times
        for slot in pool.slots.values():
            device = slot.describe().device
            # Engines on one accelerator share its worker; CPU-side engines each get their own.
            key = device if device.startswith(("cuda", "mps", "xpu")) else f"engine:{slot.id}"
            worker = self.workers.get(key)
            if worker is None:
                worker = self.workers[key] = Worker(key.replace(":", "-"), [], self)
            worker.slots.append(slot)
            slot.worker = worker

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()

    @property
    def queued(self) -> int:
        """Jobs waiting to start, all engines."""
        return sum(1 for worker in self.workers.values() for p in worker.pending if p.waiting and not p.state.done)

    def queued_for(self, slot: EngineSlot) -> int:
        assert slot.worker is not None
        return sum(1 for p in slot.worker.pending if p.slot is slot and p.waiting and not p.state.done)

    def queue_limit(self, slot: EngineSlot) -> int:
        return slot.config.queue_size or self.queue_size

    def check_capacity(self, slot: EngineSlot) -> None:
        """Each engine has its own bound, so a flood on one engine leaves the others usable."""
        if self.queued_for(slot) >= self.queue_limit(slot):
            raise self._queue_full(slot)

    def _queue_full(self, slot: EngineSlot) -> RpcError:
        setting = "its queue_size" if slot.config.queue_size else "jobs.queue_size"
        return RpcError(
            Code.RESOURCE_EXHAUSTED,
            f"the queue of engine {slot.id!r} is full ({self.queue_limit(slot)} jobs waiting, {setting}); retry later",
            retry_after_seconds=1.0,
        )

    # ---- the queue seam: the backbone's replica scheduler has the same four methods ----
    async def precheck(self, slot: EngineSlot) -> None:
        self.check_capacity(slot)

    async def existing(self, client: str, request_id: str) -> JobState | None:
        return None  # one process: a resubmitted requestId is a new job

    async def enqueue(self, state: JobState, slot: EngineSlot, client: str = "", request_id: str = "") -> JobState:
        self.submit(state, slot)
        return state

    async def stop(self, grace_seconds: float) -> None:
        await asyncio.to_thread(self.shutdown, grace_seconds)

    def submit(self, state: JobState, slot: EngineSlot) -> None:
        """Accept a validated job or refuse it at once (full queue, shutting down)."""
        if not self.accepting:
            raise RpcError(Code.UNAVAILABLE, "the server is shutting down")
        slot.check_available()
        try:
            key = slot.engine.batch_key(state.job)
            hash(key)
        except Exception as exc:  # a plugin bug: this job fails, the engine keeps serving
            log.exception("%s: batch_key() failed for job %s", slot.culprit, state.job.request_id)
            self.metrics.errors.labels(slot.id, Code.INTERNAL.name).inc()
            # Finished rather than raised: a worker taking jobs from the backbone must not stop on it.
            state.finish(Code.INTERNAL, f"{slot.culprit} failed in batch_key(): {type(exc).__name__}: {exc}")
            return
        with self.lock:
            if self.queued_for(slot) >= self.queue_limit(slot):
                self.metrics.errors.labels(slot.id, Code.RESOURCE_EXHAUSTED.name).inc()
                raise self._queue_full(slot)
            self.states_by_job[id(state.job)] = state
            assert slot.worker is not None
            slot.worker.pending.append(_Pending(state=state, slot=slot, key=key))
            self.metrics.queue_depth.labels(slot.id).inc()
            slot.worker.wakeup.notify()
            self._announce_positions(slot.worker)

    def record_batch_time(self, engine_id: str, seconds: float) -> None:
        previous = self._batch_seconds.get(engine_id)
        self._batch_seconds[engine_id] = seconds if previous is None else 0.7 * previous + 0.3 * seconds

    def _announce_positions(self, worker: Worker) -> None:
        """A ``queued`` event for each waiting job of ``worker`` whose position changed (holding the lock)."""
        busy = 1 if worker.current else 0
        position = 0
        for pending in worker.pending:
            if not pending.waiting or pending.state.done:
                continue
            if pending.announced != position:
                pending.announced = position
                per_batch = self._batch_seconds.get(pending.slot.id)
                limit = max(1, pending.slot.config.max_batch_size)
                estimate = None if per_batch is None else round(per_batch * (busy + position // limit), 3)
                pending.state.events.emit("queued", {"position": position, "estimatedStartSeconds": estimate})
            position += 1

    def on_started(self, state: JobState) -> None:
        state.started_at = time.monotonic()
        state.events.emit("started", {"engine": state.job.engine_id, "batchSize": state.job.samples})
        engine = state.job.engine_id
        self.metrics.queue_depth.labels(engine).dec()
        self.metrics.queue_wait.labels(engine).observe(state.started_at - state.enqueued_at)

    def finish(self, state: JobState, code: Code, message: str = "") -> None:
        was_waiting = state.started_at is None
        # The loop is woken last: its reader then does not wait for this thread's GIL while it logs.
        if not state.finish(code, message, notify=False):
            return
        try:
            engine = state.job.engine_id
            job = state.job
            assert state.finished_at is not None
            log.info(
                "job %s on %s: %s, %d/%d images, %.3fs (queued %.3fs)%s",
                job.request_id, engine, code.name, len(state.results), job.samples,
                state.finished_at - state.enqueued_at,
                (state.started_at or state.finished_at) - state.enqueued_at,
                f": {message}" if message and code != Code.OK else "",
            )
            if was_waiting:
                self.metrics.queue_depth.labels(engine).dec()
            if code != Code.OK:
                self.metrics.errors.labels(engine, code.name).inc()
            with self.lock:
                self.states_by_job.pop(id(state.job), None)
                slot = self.pool.slots.get(engine)
                if slot is not None and slot.worker is not None and slot.worker is not threading.current_thread():
                    slot.worker.wakeup.notify()
        finally:
            state.notify()

    def cancel(self, state: JobState, message: str = "cancelled") -> None:
        """Stop a job: a queued one at once, a running one at its engine's next step."""
        state.job.cancel.cancel(message)
        with self.lock:
            for worker in self.workers.values():
                worker.pending = [p for p in worker.pending if p.state is not state]
        self.finish(state, Code.CANCELLED, message)

    def shutdown(self, grace_seconds: float) -> None:
        """Refuse new work, fail queued jobs, give running ones ``grace_seconds``, then cancel them."""
        self.accepting = False
        with self.lock:
            for worker in self.workers.values():
                doomed = [p.state for p in worker.pending if p.waiting]
                worker.pending = [p for p in worker.pending if not p.waiting]
                for state in doomed:
                    self.finish(state, Code.UNAVAILABLE, "the server shut down before this job started")
                worker.stopping = True
                worker.wakeup.notify()
        deadline = time.monotonic() + grace_seconds
        for worker in self.workers.values():
            worker.join(max(0.0, deadline - time.monotonic()))
        for worker in self.workers.values():
            if worker.is_alive():
                for state in list(worker.current) + [p.state for p in worker.pending]:
                    self.cancel(state, "the server shut down while this job was running")
                worker.join(5.0)
        for slot in self.pool.slots.values():
            try:
                slot.engine.close()
            except Exception:
                log.exception("engine %s failed to close", slot.id)
