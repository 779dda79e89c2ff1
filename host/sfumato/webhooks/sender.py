"""Sending notices: a bounded queue, a few at a time, retried with exponential backoff.

Jobs never wait for a webhook: a job's end only puts a notice on the queue (or, when
the queue is full, logs that it was dropped).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from sfumato.config import WebhookSettings
from sfumato.jobs.state import JobState
from sfumato.webhooks.signing import SIGNATURE_HEADER, sign

log = logging.getLogger("sfumato.webhooks")


@dataclass
class Notice:
    url: str
    body: bytes
    delivery: str


def notice_body(state: JobState) -> bytes:
    """What a notice says: the job's outcome and its answers (fetch the images with AsyncResult)."""
    job = state.job
    code = int(state.code or 0)
    return msgspec.json.encode({
        "type": "job.finished",
        "requestId": job.request_id,
        "engineId": job.engine_id,
        "status": {"code": code, "message": state.message if code else ""},
        "answers": [
            {"index": r.index, "seed": r.seed, "answerId": f"{job.request_id}-{r.index}"} for r in state.results
        ],
        "finished": int(time.time() * 1000),
    })


class WebhookSender:
    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=settings.max_pending)
        self._tasks: list[asyncio.Task[Any]] = []
        self._watchers: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self.delivered = 0
        self.failed = 0

    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.settings.timeout_seconds, follow_redirects=False)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._send_forever()) for _ in range(self.settings.max_concurrent)]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._watchers]:
            task.cancel()
        if self._client is not None:
            await self._client.aclose()

    def watch(self, state: JobState, url: str) -> None:
        """Send a notice to ``url`` when ``state`` ends."""
        task = asyncio.get_running_loop().create_task(self._notify_at_end(state, url))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _notify_at_end(self, state: JobState, url: str) -> None:
        async for batch in state.events.follow(0, heartbeat=3600.0, pace=0.5):
            if batch and batch[-1].terminal:
                break
        notice = Notice(url, notice_body(state), uuid.uuid4().hex)
        try:
            self.queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.failed += 1
            log.warning("webhook for %s dropped: %d notices waiting (webhooks.max_pending)",
                        state.job.request_id, self.queue.qsize())

    async def _send_forever(self) -> None:
        while True:
            notice = await self.queue.get()
            try:
                await self._deliver(notice)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one broken notice must not stop the sender
                log.exception("webhook %s to %s", notice.delivery, notice.url)

    async def _deliver(self, notice: Notice) -> None:
        assert self._client is not None
        settings = self.settings
        for attempt in range(1, settings.max_attempts + 1):
            outcome = await self._post(notice, attempt)
            if outcome is None:
                self.delivered += 1
                return
            if attempt == settings.max_attempts or outcome == "refused":
                break
            delay = settings.backoff_seconds * 2 ** (attempt - 1)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
        self.failed += 1
        log.warning("webhook %s to %s gave up after %d attempts", notice.delivery, notice.url, attempt)

    async def _post(self, notice: Notice, attempt: int) -> str | None:
        """None when delivered; ``"retry"`` or ``"refused"`` (a 4xx other than 408/429: retrying won't help)."""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.settings.secret, notice.body),
            "Sfumato-Delivery": notice.delivery,
            "Sfumato-Attempt": str(attempt),
            "User-Agent": "sfumato-webhooks",
        }
        try:
            response = await self._client.post(notice.url, content=notice.body, headers=headers)  # type: ignore[union-attr]
        except httpx.HTTPError as exc:
            log.info("webhook %s to %s, attempt %d: %s", notice.delivery, notice.url, attempt, exc)
            return "retry"
        if response.status_code < 300:
            return None
        log.info("webhook %s to %s, attempt %d: HTTP %d", notice.delivery, notice.url, attempt, response.status_code)
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            return "refused"
        return "retry"
