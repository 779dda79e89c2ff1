"""Cancellation tokens shared between the event loop and engine worker threads."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from sfumato.errors import Cancelled


@runtime_checkable
class CancelSignal(Protocol):
    """What ``Engine.generate`` receives as ``cancel``: test it, or raise once it is set."""

    @property
    def cancelled(self) -> bool: ...

    def raise_if_cancelled(self) -> None: ...


class CancelToken:
    """Set once from any thread; engines poll it between sampler steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)


class BatchCancelToken:
    """The token an engine sees for a batch: cancelled once every job in it is."""

    def __init__(self, tokens: Iterable[CancelToken]) -> None:
        self._tokens = tuple(tokens)

    @property
    def cancelled(self) -> bool:
        return all(token.cancelled for token in self._tokens)

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled("every job in the batch was cancelled")
