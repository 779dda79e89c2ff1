"""Per-client job quotas: counting, the places held while accepting, and forgetting finished jobs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sfumato.config import QuotaSettings
from sfumato.errors import Code, RpcError
from sfumato.jobs.quotas import ClientQuotas


def job(started: bool = False) -> SimpleNamespace:
    return SimpleNamespace(done=False, started_at=1.0 if started else None)


def test_places_are_held_while_accepting_and_counted_per_client():
    quotas = ClientQuotas(QuotaSettings(max_active_jobs=2, max_queued_jobs=2, requests_per_minute=0))
    with quotas.admit("a"):
        with quotas.admit("a"):
            with pytest.raises(RpcError) as error, quotas.admit("a"):
                pass
            assert error.value.code == Code.RESOURCE_EXHAUSTED and error.value.retry_after_seconds
            with quotas.admit("b"):
                pass
    assert quotas.counts("a") == (0, 0)  # refused or abandoned acceptances free their place


def test_queued_and_active_limits_and_pruning():
    quotas = ClientQuotas(QuotaSettings(max_active_jobs=3, max_queued_jobs=1, requests_per_minute=0))
    running, waiting = job(started=True), job()
    for state in (running, waiting):
        with quotas.admit("a") as admitted:
            admitted(state)
    assert quotas.counts("a") == (2, 1)
    with pytest.raises(RpcError, match="quotas.max_queued_jobs"), quotas.admit("a"):
        pass
    waiting.done = running.done = True
    quotas.prune()
    assert quotas.counts("a") == (0, 0) and not quotas._jobs
