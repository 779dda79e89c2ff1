"""How the HTTP server is run: uvicorn, with a cap on connections and time limits for slow clients.

What uvicorn (0.54) times on its own: only the idle wait after a
response (``timeout_keep_alive``). A fresh connection that sends nothing, or part of
its headers, is never closed, nor is a stalled request body. Its
``limit_concurrency`` is checked per request, counts idle keep-alive connections
too, and answers plain text. So:

- ``ConnectionGuard`` (on uvicorn's httptools protocol, or h11's where httptools is
  missing) gives every connection ``header_timeout_seconds`` from
  connect (and from the first byte of each later request) to complete its headers,
  and admits at most ``max_connections`` at once: the others get a 503 in the API's
  error shape and are closed;
- a request line and headers over ``max_header_bytes`` get a 431 in the API's error
  shape and the connection is closed;
- ``BodyDeadline`` answers 408 when a body is not in within ``body_timeout_seconds``;
- ``keepalive_timeout_seconds`` is uvicorn's own keep-alive timeout.

No limit applies while the app works on a request or streams its answer.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

try:  # the C parser: about half the CPU time of h11 per request (docs/operations.md)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is a dependency, but a platform without its wheel still serves
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

from sfumato.api.body_deadline import BodyDeadline
from sfumato.api.errors import status_body
from sfumato.api.rest_v1.errors import error_body, is_rest_path
from sfumato.config import Settings
from sfumato.errors import Code

# An over-capacity connection is answered as soon as its request arrives; one that
# sends nothing is closed after this long, to free its socket sooner.
OVER_CAPACITY_HEADER_SECONDS = 1.0

_OVER_CAPACITY_MESSAGE = "the server has too many open connections (server.max_connections); try again shortly"
_OVER_CAPACITY_BODY = status_body(Code.UNAVAILABLE, _OVER_CAPACITY_MESSAGE)


async def refuse_over_capacity(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = error_body("service_unavailable", _OVER_CAPACITY_MESSAGE) if is_rest_path(scope.get("path", "")) \
        else _OVER_CAPACITY_BODY
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


_HEAD_TOO_LARGE_BODY = status_body(
    Code.INVALID_ARGUMENT, "the request line and headers are larger than server.max_header_bytes allows"
)
_HEAD_TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_HEAD_TOO_LARGE_BODY)
) + _HEAD_TOO_LARGE_BODY


class ConnectionGuard(asyncio.Protocol):
    """A header timeout and a connection cap on one of uvicorn's HTTP protocols (see the module doc).

    Mixed in before the protocol class: it relies on uvicorn's ``connections``, ``cycle``,
    ``app``, ``loop`` and ``transport``, which its h11 and httptools protocols both have."""

    header_timeout: ClassVar[float] = 10.0
    max_connections: ClassVar[int] = 1000
    max_header_bytes: ClassVar[int] = 64 * 1024
    connections: set[Any]
    cycle: Any
    app: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    @classmethod
    def configured(cls, header_timeout: float, max_connections: int, max_header_bytes: int) -> type[ConnectionGuard]:
        # uvicorn builds protocols with fixed arguments, so the settings travel as class attributes.
        attributes = {"header_timeout": header_timeout, "max_connections": max_connections,
                      "max_header_bytes": max_header_bytes}
        return type(cls.__name__, (cls,), attributes)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timer: asyncio.TimerHandle | None = None
        # Bytes of the current request head so far, and the last 3 (its end may straddle two reads).
        self.head_bytes = 0
        self.head_tail = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        wait = self.header_timeout
        if len(self.connections) > self.max_connections:
            self.app = refuse_over_capacity
            wait = min(wait, OVER_CAPACITY_HEADER_SECONDS)
        self._arm_header_timer(wait)

    def data_received(self, data: bytes) -> None:
        if self.header_timer is None and not self._request_in_progress():
            # The first bytes of the next request on a kept-alive connection (or body
            # left unread after a response): from now on the headers have header_timeout.
            self._arm_header_timer(self.header_timeout)
        if not self._request_in_progress() and self._head_too_large(data):
            return
        super().data_received(data)
        if self._request_in_progress():
            self._disarm_header_timer()
            self.head_bytes, self.head_tail = 0, b""

    def _head_too_large(self, data: bytes) -> bool:
        """Counts the request head (up to its blank line); over max_header_bytes: 431 and close.

        httptools has no limit of its own, and h11 buffers megabytes before it gives up."""
        seen = self.head_tail + data
        end = seen.find(b"\r\n\r\n")
        size = self.head_bytes + (len(data) if end < 0 else end + 4 - len(self.head_tail))
        if size > self.max_header_bytes:
            self._disarm_header_timer()
            if not self.transport.is_closing():
                self.transport.write(_HEAD_TOO_LARGE_RESPONSE)
                self.transport.close()
            return True
        if end < 0:
            self.head_bytes, self.head_tail = size, seen[-3:]
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _request_in_progress(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_header_timer(self, seconds: float) -> None:
        self._disarm_header_timer()
        self.header_timer = self.loop.call_later(seconds, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if not self._request_in_progress() and not self.transport.is_closing():
            self.transport.close()


class GuardedH11Protocol(ConnectionGuard, H11Protocol):
    """h11 (pure Python) under the guard: the fallback, and ``server.http_parser = "h11"``."""


GuardedHttpToolsProtocol = None if HttpToolsProtocol is None else \
    type("GuardedHttpToolsProtocol", (ConnectionGuard, HttpToolsProtocol), {"__doc__": "httptools under the guard."})


def protocol_class(parser: str) -> type[ConnectionGuard]:
    """The guarded protocol for ``server.http_parser``: ``auto`` takes httptools when it is installed."""
    if parser == "h11" or GuardedHttpToolsProtocol is None:
        return GuardedH11Protocol
    return GuardedHttpToolsProtocol


def build_server(app: Any, settings: Settings) -> uvicorn.Server:
    server = settings.server
    protocol = protocol_class(server.http_parser).configured(server.header_timeout_seconds, server.max_connections,
                                                                server.max_header_bytes)
    config = uvicorn.Config(
        BodyDeadline(app, server.body_timeout_seconds),
        host=server.host,
        port=server.port,
        http=protocol,
        ws="none",
        timeout_keep_alive=server.keepalive_timeout_seconds,  # type: ignore[arg-type]  # uvicorn's hint says int; it is a delay
        # The guard answers an oversized head (431); h11's own buffer limit (16 KiB) must not answer
        # first with a bare 400 when the head arrives in small reads.
        h11_max_incomplete_event_size=server.max_header_bytes + 1024,
        timeout_graceful_shutdown=int(settings.jobs.shutdown_grace_seconds) + 5,
        # Records go to the root logger (sfumato.logs), not uvicorn's own handlers.
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    return uvicorn.Server(config)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (raises ``OSError``: address in use, not available…).

    Bound before plugins and engines load, so a busy port is the first thing reported;
    connections made while engines load wait in the backlog until the server runs.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        # As uvicorn does: a restarted server may bind while old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(app: Any, settings: Settings, sock: socket.socket | None = None) -> bool:
    """Run until SIGINT/SIGTERM (on ``sock`` when given); False when the server could not start."""
    server = build_server(app, settings)
    try:
        server.run(sockets=None if sock is None else [sock])
    except KeyboardInterrupt:
        pass
    return server.started
