"""Per-client job quotas: how many jobs one API key (or address) may have in flight.

A client is its API key (by position in ``server.api_keys``, never the secret) or,
with keys off, its network address. Counts include requests still being accepted
(their images decoding), so a burst of concurrent requests cannot slip past.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sfumato.config import QuotaSettings
from sfumato.errors import Code, RpcError
from sfumato.jobs.state import JobState

# A queued or running job frees its place in seconds to minutes; clients poll again after this.
RETRY_AFTER_SECONDS = 2.0


class ClientQuotas:
    def __init__(self, settings: QuotaSettings) -> None:
        self.settings = settings
        self._jobs: dict[str, list[JobState]] = {}
        self._accepting: Counter[str] = Counter()

    def counts(self, client: str) -> tuple[int, int]:
        """(active, queued) jobs of ``client``, including those being accepted now."""
        jobs = [state for state in self._jobs.get(client, ()) if not state.done]
        if jobs:
            self._jobs[client] = jobs
        else:
            self._jobs.pop(client, None)
        accepting = self._accepting[client]
        queued = sum(1 for state in jobs if state.started_at is None)
        return len(jobs) + accepting, queued + accepting

    def prune(self) -> None:
        """Forget finished jobs of every client (their answers must not be kept alive here)."""
        for client in list(self._jobs):
            self.counts(client)

    def _check(self, client: str) -> None:
        active, queued = self.counts(client)
        limits = (
            (self.settings.max_active_jobs, active, "unfinished jobs", "quotas.max_active_jobs"),
            (self.settings.max_queued_jobs, queued, "jobs waiting to start", "quotas.max_queued_jobs"),
        )
        for limit, count, what, setting in limits:
            if limit and count >= limit:
                raise RpcError(
                    Code.RESOURCE_EXHAUSTED,
                    f"this client already has {count} {what}, the most allowed ({setting}); "
                    "retry when one has finished",
                    retry_after_seconds=RETRY_AFTER_SECONDS,
                )

    @contextmanager
    def admit(self, client: str) -> Iterator[Callable[[JobState], None]]:
        """Hold a place for one job while it is accepted; call the yielded function with the accepted job."""
        self._check(client)
        self._accepting[client] += 1
        try:
            yield lambda state: self._jobs.setdefault(client, []).append(state)
        finally:
            self._accepting[client] -= 1
            if not self._accepting[client]:
                del self._accepting[client]
