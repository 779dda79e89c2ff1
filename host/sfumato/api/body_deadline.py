"""ASGI middleware: a request's body must arrive within a deadline, or the answer is 408.

uvicorn hands body chunks to the app as they come and never times them, so a client
that announces a body and stalls would hold its connection and its handler for ever.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sfumato.api.errors import status_body
from sfumato.api.rest_v1.errors import error_body, is_rest_path
from sfumato.errors import Code

Message = dict[str, Any]
_DISCONNECT: Message = {"type": "http.disconnect"}


class BodyDeadline:
    """Wraps an ASGI app; ``timeout`` counts from the request's headers to its last body byte.

    On time-out the client gets 408 (``DEADLINE_EXCEEDED``) with ``Connection: close``
    and the app sees a disconnect. Once the body is in, or the app has started its
    response, nothing is timed: a streamed answer may take as long as it needs.
    """

    def __init__(self, app: Any, timeout: float) -> None:
        self.app = app
        self.timeout = timeout
        message = f"the request body did not arrive within {timeout:g} s (server.body_timeout_seconds)"
        self.timeout_body = status_body(Code.DEADLINE_EXCEEDED, message)
        self.rest_timeout_body = error_body("request_timeout", message)

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout
        body_complete = False
        response_started = False
        timed_out = False

        async def receive_in_time() -> Message:
            nonlocal body_complete, timed_out, response_started
            if timed_out:
                return _DISCONNECT
            if body_complete or response_started:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                if response_started:
                    # Too late for a 408; the response decides how long this lasts.
                    return await receive()
                timed_out = response_started = True
                await self._send_timeout(send, self.rest_timeout_body if is_rest_path(scope["path"]) else self.timeout_body)
                return _DISCONNECT
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            return message

        async def send_unless_timed_out(message: Message) -> None:
            nonlocal response_started
            if timed_out:
                return  # the 408 was the answer
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, receive_in_time, send_unless_timed_out)

    async def _send_timeout(self, send: Any, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 408,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})
