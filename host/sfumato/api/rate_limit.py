"""Requests per minute per client (``quotas.requests_per_minute``), answered 429 with Retry-After.

A token bucket per client: it holds a minute's allowance and refills continuously, so
a client may burst up to the limit and then proceeds at the limit's pace.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from litestar.types import ASGIApp, Receive, Scope, Send

from sfumato.api.auth import client_of
from sfumato.api.errors import status_body
from sfumato.api.rest_v1.errors import error_body, is_rest_path
from sfumato.errors import Code

# Probes and scrapes come from infrastructure, not API clients.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Forgetting full buckets keeps memory bounded when many addresses pass by.
PRUNE_ABOVE = 10_000


class TokenBuckets:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> float:
        """0 when the request may go ahead (one token spent), else the seconds until it may."""
        now = self.clock()
        tokens, then = self._buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > PRUNE_ABOVE:
                self._prune(now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        self._buckets = {
            client: (tokens, then)
            for client, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self.rate < self.capacity
        }


def rate_limit_middleware(per_minute: int):  # type: ignore[no-untyped-def]
    buckets = TokenBuckets(per_minute) if per_minute else None

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if buckets is None or scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
                await app(scope, receive, send)
                return
            wait = buckets.take(client_of(scope))
            if not wait:
                await app(scope, receive, send)
                return
            message = f"too many requests: this client may send {per_minute} per minute (quotas.requests_per_minute)"
            body = error_body("rate_limit_exceeded", message) if is_rest_path(scope["path"]) \
                else status_body(Code.RESOURCE_EXHAUSTED, message)
            await send({
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(max(1, math.ceil(wait))).encode()),
                ],
            })
            await send({"type": "http.response.body", "body": body})

        return middleware

    return factory
