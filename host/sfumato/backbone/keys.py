"""Names of everything sfumato keeps on the backbone, under one prefix.

    {p}:queue:{engine}        stream of job ids waiting for an engine (consumer group "workers")
    {p}:queued:{engine}       jobs on that stream not yet taken by a worker (the backpressure count)
    {p}:job:{id}              hash: payload, engine, client, request id, received, state, code, message
    {p}:job:{id}:events       stream of the job's results and its end (consumer group "async")
    {p}:job:{id}:published    hash: which result indices and whether the end were published (dedup)
    {p}:job:{id}:progress     stream of the job's progress events (GET /jobs/{id}/events), ids <n>-1
    {p}:eventid:{client}:{r}  the job id of a requestId, for GET /jobs/{requestId}/events
    {p}:request:{client}:{r}  the job id of a requestId, for idempotent resubmits
    {p}:engine:{id}           an engine's description, as workers publish it
    {p}:engines               set of engine ids ever published
    {p}:worker:{id}           a live worker's registration (expires without heartbeats)
    {p}:workers               set of worker ids (stale ones are dropped when seen expired)
    {p}:signals               pub/sub channel: "cancel <job id>", "end <job id>"
"""

from __future__ import annotations

from dataclasses import dataclass

WORKER_GROUP = b"workers"
ASYNC_GROUP = b"async"


@dataclass(frozen=True)
class Keys:
    prefix: str = "sfumato"

    def queue(self, engine_id: str) -> str:
        return f"{self.prefix}:queue:{engine_id}"

    def queued(self, engine_id: str) -> str:
        return f"{self.prefix}:queued:{engine_id}"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def events(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:events"

    def published(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:published"

    def progress(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:progress"

    def event_lookup(self, client: str, request_id: str) -> str:
        return f"{self.prefix}:eventid:{client}:{request_id}"

    def request(self, client: str, request_id: str) -> str:
        return f"{self.prefix}:request:{client}:{request_id}"

    def engine(self, engine_id: str) -> str:
        return f"{self.prefix}:engine:{engine_id}"

    @property
    def engines(self) -> str:
        return f"{self.prefix}:engines"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def signals(self) -> str:
        return f"{self.prefix}:signals"
