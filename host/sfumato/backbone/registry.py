"""Workers publish their engines and a heartbeat; API replicas read them.

An engine is configured somewhere when a worker has published it; it is served
when a live worker (one whose registration has not expired) has it loaded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from sfumato.backbone.keys import Keys
from sfumato.engines import EngineConfig, EngineDescription, EngineLimits
from sfumato.errors import Code, RpcError
from sfumato.records import EngineKind, SamplerSpec

log = logging.getLogger("sfumato.backbone")


class SamplerRecord(msgspec.Struct, frozen=True):
    name: str
    engine_kind: str
    number: int | None = None
    description: str = ""
    supports_eta: bool = False
    supports_churn: bool = False
    supports_sigma_limits: bool = False
    supports_karras_rho: bool = False
    noise_types: tuple[str, ...] = ("SAMPLER_NOISE_NORMAL",)

    def spec(self) -> SamplerSpec:
        # The factory stays with the workers; the API only validates against the flags.
        return SamplerSpec(
            name=self.name, engine_kind=self.engine_kind, factory="", number=self.number,
            description=self.description, supports_eta=self.supports_eta, supports_churn=self.supports_churn,
            supports_sigma_limits=self.supports_sigma_limits, supports_karras_rho=self.supports_karras_rho,
            noise_types=self.noise_types,  # type: ignore[arg-type]
        )


class EngineRecord(msgspec.Struct, frozen=True):
    """What a worker says about one engine of its config: enough for an API replica to validate."""

    id: str
    kind: str
    kind_description: str
    name: str
    description: str
    visible: bool
    max_batch_size: int
    queue_size: int | None
    limits: EngineLimits
    capabilities: EngineDescription
    samplers: list[SamplerRecord]
    kind_owner: str = ""  # ListEngines' owner; empty from workers older than the field

    def config(self) -> EngineConfig:
        return EngineConfig(
            id=self.id, kind=self.kind, name=self.name, description=self.description,
            default_sampler=self.capabilities.default_sampler, default_steps=self.capabilities.default_steps,
            limits=self.limits, max_batch_size=self.max_batch_size, queue_size=self.queue_size, visible=self.visible,
        )


class EngineStatus(msgspec.Struct):
    ready: bool = False
    status: str = "waiting to load"
    error: str | None = None


class WorkerRecord(msgspec.Struct):
    id: str
    host: str
    pid: int
    started: float
    engines: dict[str, EngineStatus] = {}
    running: list[str] = []
    queued: int = 0
    # job id → (sampler step, total steps) of the jobs it runs
    progress: dict[str, tuple[int, int]] = {}


def engine_record(slot: Any) -> EngineRecord:
    """The record a worker publishes for one of its engine slots."""
    description = slot.describe()
    return EngineRecord(
        id=slot.id,
        kind=slot.config.kind,
        kind_description=slot.kind.description,
        kind_owner=slot.kind.owner or "",
        name=slot.config.name or slot.id,
        description=slot.config.description,
        visible=slot.config.visible,
        max_batch_size=slot.config.max_batch_size,
        queue_size=slot.config.queue_size,
        limits=slot.config.limits,
        capabilities=description,
        samplers=[
            SamplerRecord(
                name=spec.name, engine_kind=spec.engine_kind, number=spec.number, description=spec.description,
                supports_eta=spec.supports_eta, supports_churn=spec.supports_churn,
                supports_sigma_limits=spec.supports_sigma_limits, supports_karras_rho=spec.supports_karras_rho,
                noise_types=tuple(spec.noise_types),
            )
            for spec in slot.samplers.values()
        ],
    )


_encoder = msgspec.json.Encoder()
_engine_decoder = msgspec.json.Decoder(EngineRecord)
_worker_decoder = msgspec.json.Decoder(WorkerRecord)


def encode(record: msgspec.Struct) -> bytes:
    return _encoder.encode(record)


class _NoValidation:
    """Engine-specific checks run on the worker that takes the job."""

    def validate(self, job: Any) -> None:
        return None


@dataclass
class RemoteSlot:
    """An engine as API replicas see it: its published record and the live workers serving it."""

    record: EngineRecord
    statuses: dict[str, EngineStatus] = field(default_factory=dict)  # worker id → status
    engine: _NoValidation = field(default_factory=_NoValidation)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def config(self) -> EngineConfig:
        return self.record.config()

    @property
    def kind(self) -> EngineKind:
        return EngineKind(name=self.record.kind, factory="", description=self.record.kind_description,
                          owner=self.record.kind_owner or None)

    @property
    def samplers(self) -> dict[str, SamplerSpec]:
        return {sampler.name: sampler.spec() for sampler in self.record.samplers}

    def describe(self) -> EngineDescription:
        return self.record.capabilities

    @property
    def ready(self) -> bool:
        return any(status.ready for status in self.statuses.values())

    @property
    def load_error(self) -> str | None:
        errors = [status.error for status in self.statuses.values() if status.error]
        if self.statuses and len(errors) == len(self.statuses):
            return errors[0]
        return None

    @property
    def load_status(self) -> str:
        if not self.statuses:
            return "no live worker"
        ready = sum(1 for status in self.statuses.values() if status.ready)
        return f"ready on {ready} of {len(self.statuses)} workers" if ready else "loading"

    def check_available(self) -> None:
        if not self.statuses:
            raise RpcError(Code.UNAVAILABLE, f"engine {self.id!r}: no live worker serves it (its workers are gone); retry later")
        if self.load_error is not None:
            raise RpcError(Code.UNAVAILABLE, f"engine {self.id!r} failed to load: {self.load_error}")


class RemoteEnginePool:
    """The engines of every live worker, refreshed from the backbone in the background."""

    def __init__(self, default_engine: str = "") -> None:
        self.slots: dict[str, RemoteSlot] = {}
        self.workers: dict[str, WorkerRecord] = {}
        self.default_engine = default_engine
        self.skipped: list[tuple[str, str]] = []
        self.refreshed_at = 0.0
        self.reachable = False

    def get(self, engine_id: str) -> RemoteSlot | None:
        if not engine_id:
            engine_id = self.default_engine or next(iter(sorted(self.slots)), "")
        return self.slots.get(engine_id)

    def ids(self) -> list[str]:
        return sorted(slot.id for slot in self.slots.values() if slot.record.visible)

    @property
    def all_ready(self) -> bool:
        """Readiness of a replica: the backbone answers and at least one worker is live."""
        return self.reachable and bool(self.workers)

    async def refresh(self, client: Any, keys: Keys) -> None:
        engine_ids = sorted(member.decode() for member in await client.smembers(keys.engines))
        worker_ids = sorted(member.decode() for member in await client.smembers(keys.workers))
        engine_blobs = await client.mget([keys.engine(engine_id) for engine_id in engine_ids]) if engine_ids else []
        worker_blobs = await client.mget([keys.worker(worker_id) for worker_id in worker_ids]) if worker_ids else []
        workers: dict[str, WorkerRecord] = {}
        for worker_id, blob in zip(worker_ids, worker_blobs, strict=True):
            if blob is None:  # expired: its heartbeats stopped
                await client.srem(keys.workers, worker_id)
                continue
            workers[worker_id] = _worker_decoder.decode(blob)
        slots: dict[str, RemoteSlot] = {}
        for blob in engine_blobs:
            if blob is None:
                continue
            record = _engine_decoder.decode(blob)
            statuses = {w.id: w.engines[record.id] for w in workers.values() if record.id in w.engines}
            slots[record.id] = RemoteSlot(record, statuses)
        self.slots, self.workers = slots, workers
        self.refreshed_at = time.monotonic()
        self.reachable = True


def decode_worker(blob: bytes) -> WorkerRecord:
    return _worker_decoder.decode(blob)

