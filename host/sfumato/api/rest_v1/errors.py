"""REST v1 errors: ``{"id", "name", "message"}`` with Stability's documented names and statuses.

Errors from the job core (google.rpc codes) keep their HTTP status and get the REST
name for it; the REST layer's own checks pick the more specific documented names
(``invalid_samples``, ``invalid_height_or_width``, ``invalid_mask_image``…).
"""

from __future__ import annotations

import logging
import math
import re
import uuid

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from sfumato.errors import HTTP_STATUS, Code, RpcError
from sfumato.wire_codec import WireError

log = logging.getLogger("sfumato.api")

PREFIX = "/v1/"

# The status each google.rpc code answers with, and its REST name.
_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "invalid_file_size",
    415: "invalid_mime_type",
    429: "rate_limit_exceeded",
    499: "cancelled",
    501: "not_implemented",
    503: "service_unavailable",
    504: "timeout",
}

# Core messages name wire paths; REST clients know these fields by their REST names.
_WIRE_PATHS = (
    (re.compile(r"^image\.width\b"), "width", "invalid_height_or_width"),
    (re.compile(r"^image\.height\b"), "height", "invalid_height_or_width"),
    (re.compile(r"^image(?=: \d+×\d+)"), "width × height", "invalid_height_or_width"),
    (re.compile(r"^image\.samples\b"), "samples", "invalid_samples"),
    (re.compile(r"^image\.steps\b"), "steps", None),
    (re.compile(r"^image\.seed(\[\d+\])?"), "seed", None),
    (re.compile(r"^image\.transform\.diffusion\b"), "sampler", None),
    (re.compile(r"^image\.parameters\[\d+\]\.sampler\.cfgScale\b"), "cfg_scale", None),
    (re.compile(r"^image\.parameters\[\d+\]\.schedule\.start\b"), "step_schedule_start", None),
    (re.compile(r"^prompt\[\d+\]\.text\b"), "text_prompts", "invalid_prompts"),
)


class ErrorBody(msgspec.Struct):
    """The body of every REST v1 error."""

    id: str
    name: str
    message: str


class RestError(Exception):
    """A REST v1 error raised by the REST layer itself, with its documented name."""

    def __init__(self, status: int, name: str, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message
        self.retry_after_seconds = retry_after_seconds


def bad_request(message: str, name: str = "bad_request") -> RestError:
    return RestError(400, name, message)


def is_rest_path(path: str) -> bool:
    return path.startswith(PREFIX)


_encoder = msgspec.json.Encoder()


def error_body(name: str, message: str) -> bytes:
    return _encoder.encode(ErrorBody(id=uuid.uuid4().hex, name=name, message=message))


def rest_name(status: int) -> str:
    return _NAMES.get(status, "server_error" if status >= 500 else "bad_request")


def rest_response(status: int, name: str, message: str, retry_after_seconds: float | None = None) -> Response[bytes]:
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="sfumato"'
    if status == 429 or retry_after_seconds is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after_seconds or 1)))
    return Response(content=error_body(name, message), status_code=status, media_type="application/json",
                    headers=headers)


def _from_core(status: int, message: str) -> tuple[str, str]:
    """The REST name and message for a core error, its wire path renamed to the REST field."""
    for pattern, field, name in _WIRE_PATHS:
        match = pattern.match(message)
        if match:
            return (name if status == 400 and name else rest_name(status)), field + message[match.end():]
    return rest_name(status), message


def handle_rest_error(_: Request, exc: RestError) -> Response[bytes]:
    return rest_response(exc.status, exc.name, exc.message, exc.retry_after_seconds)


def handle_rpc_error(_: Request, exc: RpcError) -> Response[bytes]:
    status = HTTP_STATUS.get(exc.code, 500)
    name, message = _from_core(status, exc.message)
    if exc.code in (Code.INTERNAL, Code.UNKNOWN, Code.DATA_LOSS):
        name = "server_error"
    return rest_response(status, name, message, exc.retry_after_seconds)


def handle_wire_error(_: Request, exc: WireError) -> Response[bytes]:
    return rest_response(400, "bad_request", str(exc))


def handle_http_exception(request: Request, exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status == 413:
        message = "the request body is larger than limits.max_body_bytes allows"
    elif status == 404:
        message = f"no route {request.method} {request.url.path}"
    elif status == 405:
        message = f"{request.method} is not supported on {request.url.path}"
    else:
        message = exc.detail or "bad request"
    return rest_response(status, rest_name(status), message)


def handle_unexpected(request: Request, exc: Exception) -> Response[bytes]:
    incident = uuid.uuid4().hex[:12]
    log.error("internal error %s on %s %s", incident, request.method, request.url.path, exc_info=exc)
    return rest_response(500, "server_error", f"internal error (incident {incident}); the server log has the details")


EXCEPTION_HANDLERS = {
    RestError: handle_rest_error,
    RpcError: handle_rpc_error,
    WireError: handle_wire_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
