"""Prometheus metrics for operators (served at ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """One registry per app, so several servers in one process (tests) don't collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.queue_depth = Gauge(
            "sfumato_queue_depth", "Jobs accepted and waiting for a worker", ["engine"], registry=self.registry
        )
        self.queue_wait = Histogram(
            "sfumato_queue_wait_seconds",
            "Time from acceptance to the first batch that runs the job",
            ["engine"],
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.generation_time = Histogram(
            "sfumato_batch_seconds",
            "Wall time of one engine batch",
            ["engine"],
            buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.images = Counter("sfumato_images", "Images produced", ["engine"], registry=self.registry)
        self.batch_size = Histogram(
            "sfumato_batch_size",
            "Images per engine batch",
            ["engine"],
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32),
            registry=self.registry,
        )
        self.errors = Counter(
            "sfumato_errors", "Requests that ended in an error, by google.rpc code", ["engine", "code"],
            registry=self.registry,
        )
        self.engine_ready = Gauge("sfumato_engine_ready", "1 when the engine is loaded", ["engine"], registry=self.registry)
        # With a job backbone (API replicas): what all replicas and workers share.
        self.backbone_queue_depth = Gauge(
            "sfumato_backbone_queue_depth", "Jobs on the backbone not yet taken by a worker", ["engine"],
            registry=self.registry,
        )
        self.backbone_queue_age = Gauge(
            "sfumato_backbone_queue_age_seconds", "Age of the oldest job on the engine's backbone queue", ["engine"],
            registry=self.registry,
        )
        self.live_workers = Gauge("sfumato_live_workers", "Workers with a live heartbeat", registry=self.registry)
        self.backbone_memory = Gauge(
            "sfumato_backbone_memory_bytes", "Memory the backbone server reports using", registry=self.registry
        )
