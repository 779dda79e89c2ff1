"""A minimal keep-alive HTTP/1.1 client on a plain socket, for measuring the server alone.

An HTTP client library costs time of its own per request, and more per byte of answer
(httpx parses a 271 KiB answer in pure Python). The benchmarks use this client next to
httpx to tell the server's overhead from the client's. It handles only what they need:
one connection, answers with a ``Content-Length``, no redirects.
"""

from __future__ import annotations

import json
import re
import socket
from typing import Any
from urllib.parse import urlsplit

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_STATUS = re.compile(rb"HTTP/1\.1 (\d{3})")


class RawResponse:
    def __init__(self, status: int, head: bytes, body: memoryview) -> None:
        self.status_code = status
        self.head = head.decode("latin-1")
        self.body = body

    def header(self, name: str) -> str | None:
        found = re.search(rf"\r\n{re.escape(name)}:\s*([^\r]*)", self.head, re.IGNORECASE)
        return found.group(1) if found else None


class RawClient:
    """One persistent connection; the answer is read into one reused buffer (no copies)."""

    def __init__(self, url: str, buffer_bytes: int = 8 << 20) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.socket = socket.create_connection((self.host, parts.port or 80))
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray(buffer_bytes)
        self.view = memoryview(self.buffer)

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.socket.close()

    def get(self, path: str) -> RawResponse:
        return self._exchange(f"GET {path} HTTP/1.1\r\nhost: {self.host}\r\n\r\n".encode())

    def post_json(self, path: str, body: Any) -> RawResponse:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        head = (f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(data)}\r\n\r\n").encode()
        return self._exchange(head + data)

    def _exchange(self, request: bytes) -> RawResponse:
        self.socket.sendall(request)
        received, head_end = 0, -1
        while head_end < 0:
            received += self._receive(received)
            head_end = self.buffer.find(b"\r\n\r\n", 0, received)
        head = bytes(self.buffer[:head_end])
        length = _CONTENT_LENGTH.search(head)
        status = _STATUS.match(head)
        if length is None or status is None:
            raise ValueError(f"expected an HTTP/1.1 answer with a Content-Length, got {head[:200]!r}")
        end = head_end + 4 + int(length.group(1))
        if end > len(self.buffer):
            raise ValueError(f"answer of {end} bytes is larger than the {len(self.buffer)}-byte buffer")
        while received < end:
            received += self._receive(received)
        return RawResponse(int(status.group(1)), head, self.view[head_end + 4:end])

    def _receive(self, offset: int) -> int:
        count = self.socket.recv_into(self.view[offset:])
        if count == 0:
            raise ConnectionError("the server closed the connection")
        return count
