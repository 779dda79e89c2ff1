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
    and raise CANCELLED."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(wait_for_disconnect(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        on_disconnect()
        raise RpcError(Code.CANCELLED, "the client disconnected")
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
            # Nobody awaits it any more: consume its outcome so it is not reported as lost.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
