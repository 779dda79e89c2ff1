"""Stopping work whose HTTP client has gone: shared by every route that waits on a job."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from litestar import Request

from sfumato.errors import Code, RpcError

T = TypeVar("T")


async def wait_for_disconnect(request: Request) -> None:
    """Returns once the client has gone (the body was read already, so only a disconnect arrives)."""
    while (await request.receive()).get("type") != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T], on_disconnect: Callable[[], None]) -> T:
    """Await ``work`` while watching the connection; if the client goes first, call ``on_disconnect``
    and raise CANCELLED.

    ``work`` runs in the caller's own task, and one watcher task cancels that task if the client
    goes: no task and no ``asyncio.wait`` per call for the work, which is most often done at once.
    """
    handler = asyncio.current_task()
    assert handler is not None, "unless_disconnected runs inside a task"
    watching = True
    disconnected = False

    def client_gone(watcher: asyncio.Task[None]) -> None:
        nonlocal disconnected
        if not watching or watcher.cancelled() or watcher.exception() is not None:
            return
        disconnected = True
        on_disconnect()
        handler.cancel()

    watcher = asyncio.ensure_future(wait_for_disconnect(request))
    watcher.add_done_callback(client_gone)
    try:
        return await work
    except asyncio.CancelledError:
        if not disconnected:
            raise  # a real cancellation (shutdown), not the client going away
        handler.uncancel()
        raise RpcError(Code.CANCELLED, "the client disconnected") from None
    finally:
        # The callback may already be scheduled: the flag keeps it from cancelling later work.
        watching = False
        watcher.cancel()
