"""``sfumato workers``: what the backbone knows of live workers, as a table."""

from __future__ import annotations

import time

from sfumato.backbone.connection import connect, redact
from sfumato.backbone.keys import Keys
from sfumato.backbone.registry import RemoteEnginePool


async def describe_workers(url: str, prefix: str) -> str:
    client = connect(url)
    try:
        pool = RemoteEnginePool()
        await pool.refresh(client, Keys(prefix))
    finally:
        await client.aclose()
    if not pool.workers:
        return f"no live workers on {redact(url)}"
    lines = [f"{len(pool.workers)} live worker(s) on {redact(url)}"]
    now = time.time()
    for worker in sorted(pool.workers.values(), key=lambda w: w.id):
        lines.append(f"{worker.id}  host {worker.host}  pid {worker.pid}  up {now - worker.started:.0f}s")
        for engine_id, status in sorted(worker.engines.items()):
            state = "ready" if status.ready else ("failed: " + status.error if status.error else status.status)
            lines.append(f"    engine {engine_id}: {state}")
        jobs = ", ".join(
            f"{job_id} (step {worker.progress[job_id][0]}/{worker.progress[job_id][1]})" if job_id in worker.progress else job_id
            for job_id in worker.running
        ) or "none"
        lines.append(f"    jobs: {jobs} ({worker.queued} waiting to start)")
    return "\n".join(lines)
