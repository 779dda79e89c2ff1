"""gRPC-web on the HTTP port: ``POST /<package>.<Service>/<Method>`` with
``application/grpc-web(+proto)`` or ``application/grpc-web-text(+proto)`` bodies.

Framing (the gRPC-web protocol): each message is one flag byte (0x00), a 4-byte
big-endian length and the payload; the response ends with a trailers frame (flag
0x80) whose payload is ``grpc-status``/``grpc-message`` header lines. The text
variant base64-encodes the same bytes, each response frame on its own, so a browser
can read a stream as it arrives.

A small adapter rather than sonora's ASGI server, which reflects the Host header as the
allowed CORS origin, sends a second response start on an error after the first
message, and has no size limit; here CORS comes from the app's own configuration
(``server.cors_origins``), and API keys and request quotas from its middleware,
whose refusals :func:`grpc_web_refusals` turns into gRPC-web statuses.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import math
import re
import struct
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import msgspec
import pybase64
from google.rpc import status_pb2
from litestar.types import ASGIApp, Receive, Scope, Send

from sfumato.api.auth import client_of
from sfumato.api.errors import status_body
from sfumato.api.grpc.methods import Method
from sfumato.api.grpc.server import internal_error
from sfumato.errors import Code, RpcError
from sfumato.wire_codec.errors import client_text

BINARY_TYPES = frozenset({"application/grpc-web", "application/grpc-web+proto"})
TEXT_TYPES = frozenset({"application/grpc-web-text", "application/grpc-web-text+proto"})
_FRAME = struct.Struct(">BI")
_TRAILERS_FLAG = 0x80
_COMPRESSED_FLAG = 0x01


def content_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def is_grpc_web(scope: Scope) -> bool:
    return scope["type"] == "http" and content_type(scope) in BINARY_TYPES | TEXT_TYPES


def frame(payload: bytes, *, trailers: bool = False) -> bytes:
    return _FRAME.pack(_TRAILERS_FLAG if trailers else 0, len(payload)) + payload


def trailers_frame(code: Code, message: str) -> bytes:
    # The google.rpc.Status detail, as native gRPC sends it.
    details = status_pb2.Status(code=int(code), message=message).SerializeToString() if code else b""
    lines = [f"grpc-status: {int(code)}"]
    if message:
        lines.append(f"grpc-message: {quote(message, safe=' ')}")
    if details:
        lines.append(f"grpc-status-details-bin: {pybase64.b64encode(details).decode().rstrip('=')}")
    return frame("".join(line + "\r\n" for line in lines).encode("ascii"), trailers=True)


class _Reply:
    """Sends a gRPC-web response in the request's variant (binary or base64 text)."""

    def __init__(self, send: Send, request_type: str) -> None:
        self.send = send
        self.text = request_type in TEXT_TYPES
        self.media_type = "application/grpc-web-text+proto" if self.text else "application/grpc-web+proto"
        self.started = False

    async def _start(self, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        headers = [(b"content-type", self.media_type.encode()), *extra]
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})
        self.started = True

    async def chunk(self, data: bytes, *, more: bool = True) -> None:
        if not self.started:
            await self._start()
        body = pybase64.b64encode(data) if self.text else data
        await self.send({"type": "http.response.body", "body": body, "more_body": more})

    async def message(self, payload: bytes) -> None:
        await self.chunk(frame(payload))

    async def only_message(self, payload: bytes) -> None:
        # One chunk: in the text variant the whole body is then a single base64 string.
        await self.chunk(frame(payload) + trailers_frame(Code.OK, ""), more=False)

    async def finish(self, code: Code = Code.OK, message: str = "", retry_after: float | None = None) -> None:
        if not self.started:
            extra = ((b"retry-after", str(max(1, math.ceil(retry_after))).encode()),) if retry_after else ()
            await self._start(extra)
        await self.chunk(trailers_frame(code, message), more=False)

    async def error(self, error: RpcError) -> None:
        await self.finish(error.code, error.message, error.retry_after_seconds)


class _ClientGone(Exception):
    """The client disconnected before its request had arrived."""


async def _read_body(receive: Receive, limit: int) -> bytes:
    body = bytearray()
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise _ClientGone
        body += event.get("body", b"")
        if len(body) > limit:
            raise RpcError(
                Code.RESOURCE_EXHAUSTED,
                f"the request is larger than grpc.max_receive_message_bytes allows ({limit} bytes)",
            )
        if not event.get("more_body"):
            return bytes(body)


_PADDING_END = re.compile(rb"(?<==)(?=[^=])")


def _from_base64(text: bytes) -> bytes:
    """A grpc-web-text body: base64, possibly several separately padded chunks, line breaks ignored."""
    text = text.translate(None, b" \t\r\n")
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return b"".join(pybase64.b64decode(chunk, validate=True) for chunk in _PADDING_END.split(text))
    except (binascii.Error, ValueError):
        raise RpcError(Code.INVALID_ARGUMENT, "the grpc-web-text body is not valid base64") from None


def _only_message(body: bytes, text: bool, limit: int) -> bytes:
    """The single message frame of a unary request."""
    if text:
        body = _from_base64(body)
    if len(body) < _FRAME.size:
        raise RpcError(Code.INVALID_ARGUMENT, "the body holds no gRPC-web message frame (5-byte header, then the message)")
    flags, length = _FRAME.unpack_from(body)
    if flags & _TRAILERS_FLAG:
        raise RpcError(Code.INVALID_ARGUMENT, "the first frame of a request must be a message, not trailers")
    if flags & _COMPRESSED_FLAG:
        raise RpcError(Code.UNIMPLEMENTED, "compressed gRPC-web messages are not supported; send them uncompressed")
    if length > limit:
        raise RpcError(Code.RESOURCE_EXHAUSTED,
                       f"the message is larger than grpc.max_receive_message_bytes allows ({length} > {limit} bytes)")
    if len(body) != _FRAME.size + length:
        raise RpcError(
            Code.INVALID_ARGUMENT,
            f"the frame says {length} message bytes but the body holds {len(body) - _FRAME.size}; "
            "a unary call carries exactly one message",
        )
    return body[_FRAME.size:]


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class GrpcWebApp:
    """An ASGI app serving the gRPC methods' paths in gRPC-web."""

    def __init__(self, methods: dict[str, Method], max_receive_bytes: int, max_send_bytes: int) -> None:
        self.methods = methods
        self.max_receive = max_receive_bytes
        self.max_send = max_send_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send, path: str | None = None) -> None:
        """Serve the call to ``path`` (default: the scope's path)."""
        path = path or scope["path"]
        request_type = content_type(scope)
        if request_type not in BINARY_TYPES | TEXT_TYPES:
            await _json_refusal(send, 415, Code.INVALID_ARGUMENT,
                                f"{path} is a gRPC-web method: send content-type application/grpc-web+proto "
                                "or application/grpc-web-text (the JSON routes are under /grpcgateway)")
            return
        reply = _Reply(send, request_type)
        method = self.methods.get(path)
        if method is None:
            service = path.lstrip("/").split("/", 1)[0]
            known = ", ".join(name.rsplit("/", 1)[1] for name in self.methods if name.startswith(f"/{service}/"))
            name = client_text(path.rsplit("/", 1)[-1])
            await reply.error(RpcError(Code.UNIMPLEMENTED, f"{client_text(service)} has no method {name}; it has {known}"))
            return
        if scope["method"] != "POST":
            await reply.error(RpcError(Code.UNIMPLEMENTED, f"gRPC-web calls are POST, not {scope['method']}"))
            return
        try:
            framed = self.max_receive + _FRAME.size
            limit = 4 * ((framed + 2) // 3) if reply.text else framed  # base64 is 4 characters per 3 bytes
            body = await _read_body(receive, limit)
            request = method.decode(_only_message(body, reply.text, self.max_receive))
        except _ClientGone:
            return
        except RpcError as error:
            await reply.error(error)
            return
        client = client_of(scope)
        if method.streaming:
            await self._stream(method, method.run(request, client), reply, receive)
        else:
            await self._unary(method, request, client, reply)

    async def _unary(self, method: Method, request: Any, client: str, reply: _Reply) -> None:
        try:
            payload = (await method.run(request, client)).SerializeToString()
        except RpcError as error:
            await reply.error(error)
            return
        except Exception as exc:
            await reply.error(internal_error(method.path, exc))
            return
        if self._fits(payload):
            await reply.only_message(payload)
        else:
            await reply.error(self._too_large(payload))

    def _fits(self, payload: bytes) -> bool:
        return len(payload) <= self.max_send

    def _too_large(self, payload: bytes) -> RpcError:
        return RpcError(
            Code.RESOURCE_EXHAUSTED,
            f"the answer is larger than grpc.max_send_message_bytes allows ({len(payload)} > {self.max_send} bytes)",
        )

    async def _stream(self, method: Method, answers: AsyncIterator[Any], reply: _Reply, receive: Receive) -> None:
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            while True:
                step = asyncio.ensure_future(anext(answers))
                await asyncio.wait({step, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not step.done():  # the client went away: cancelling the step cancels the job
                    step.cancel()
                    with contextlib.suppress(BaseException):
                        await step
                    return
                try:
                    answer = step.result()
                except StopAsyncIteration:
                    break
                except RpcError as error:
                    await reply.error(error)
                    return
                except Exception as exc:
                    await reply.error(internal_error(method.path, exc))
                    return
                payload = answer.SerializeToString()
                if not self._fits(payload):
                    await _close(answers)  # ends the call's job
                    await reply.error(self._too_large(payload))
                    return
                await reply.message(payload)
            await reply.finish()
        finally:
            gone.cancel()


async def _close(answers: AsyncIterator[Any]) -> None:
    closer = getattr(answers, "aclose", None)
    if closer is not None:
        await closer()


async def _json_refusal(send: Send, status: int, code: Code, message: str) -> None:
    body = status_body(code, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def grpc_web_refusals(app: ASGIApp) -> ASGIApp:
    """Middleware: a gRPC-web call refused before it reaches its method (API key, request
    quota) gets the refusal's google.rpc code and message as a gRPC-web status, not JSON."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if not is_grpc_web(scope):
            await app(scope, receive, send)
            return
        refusal: dict[str, Any] = {}

        async def translate(event: dict[str, Any]) -> None:
            if event["type"] == "http.response.start" and event["status"] != 200:
                headers = dict(event.get("headers") or [])
                if headers.get(b"content-type", b"").startswith(b"application/json"):
                    refusal["start"], refusal["body"] = event, b""
                    return
            if "start" in refusal and event["type"] == "http.response.body":
                refusal["body"] += event.get("body", b"")
                if not event.get("more_body"):
                    await _translated(refusal["start"], refusal["body"], content_type(scope), send)
                return
            await send(event)

        await app(scope, receive, translate)

    return middleware


async def _translated(start: dict[str, Any], body: bytes, request_type: str, send: Send) -> None:
    try:
        status = msgspec.json.decode(body)
        code, message = Code(int(status["code"])), str(status["message"])
    except (msgspec.DecodeError, KeyError, TypeError, ValueError):
        code, message = Code.UNKNOWN, f"HTTP {start['status']}"
    retry = dict(start.get("headers") or []).get(b"retry-after")
    await _Reply(send, request_type).finish(code, message, float(retry) if retry else None)
