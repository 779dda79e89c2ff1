"""Every error leaves as a google.rpc.Status body with the mapped HTTP status (API.md §3)."""

from __future__ import annotations

import logging
import math
import uuid

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException

from sfumato.api.rest_v1 import errors as rest_v1_errors
from sfumato.errors import Code, HTTP_STATUS, RpcError
from sfumato.wire_codec import WireError

log = logging.getLogger("sfumato.api")

_encoder = msgspec.json.Encoder()

# HTTP errors raised by the framework itself (routing, body size) → google.rpc codes.
_HTTP_TO_CODE = {
    400: Code.INVALID_ARGUMENT,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    405: Code.UNIMPLEMENTED,
    409: Code.ABORTED,
    413: Code.INVALID_ARGUMENT,
    415: Code.INVALID_ARGUMENT,
    429: Code.RESOURCE_EXHAUSTED,
    503: Code.UNAVAILABLE,
}


def status_body(code: Code, message: str) -> bytes:
    return _encoder.encode({"code": int(code), "message": message, "details": []})


def rpc_response(code: Code, message: str, headers: dict[str, str] | None = None) -> Response[bytes]:
    headers = dict(headers or {})
    if code == Code.UNAUTHENTICATED:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="sfumato"')
    if code == Code.RESOURCE_EXHAUSTED:
        headers.setdefault("Retry-After", "1")
    return Response(
        content=status_body(code, message),
        status_code=HTTP_STATUS.get(code, 500),
        media_type="application/json",
        headers=headers,
    )


def retry_after_header(seconds: float | None) -> dict[str, str]:
    return {} if seconds is None else {"Retry-After": str(max(1, math.ceil(seconds)))}


def handle_rpc_error(_: Request, exc: RpcError) -> Response[bytes]:
    return rpc_response(exc.code, exc.message, retry_after_header(exc.retry_after_seconds))


def handle_wire_error(_: Request, exc: WireError) -> Response[bytes]:
    return rpc_response(Code.INVALID_ARGUMENT, str(exc))


def handle_http_exception(request: Request, exc: HTTPException) -> Response[bytes]:
    if rest_v1_errors.is_rest_path(request.url.path):  # no /v1 route matched: still the REST error shape
        return rest_v1_errors.handle_http_exception(request, exc)
    status = exc.status_code
    code = _HTTP_TO_CODE.get(status, Code.UNKNOWN if status >= 500 else Code.INVALID_ARGUMENT)
    headers: dict[str, str] = {}
    if isinstance(exc, NotFoundException):
        message = f"Not Found: no route {request.method} {request.url.path}"
    elif isinstance(exc, MethodNotAllowedException):
        # The one departure from the code→status table: HTTP requires 405 (with Allow)
        # for a known path and the wrong method; the body still carries UNIMPLEMENTED.
        message = f"Method Not Allowed: {request.method} is not supported on {request.url.path}"
        headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
        response = rpc_response(code, message, headers)
        response.status_code = 405
        return response
    elif status == 413:
        message = "the request body is larger than limits.max_body_bytes allows"
    else:
        message = exc.detail or "bad request"
    return rpc_response(code, message, headers)


def _allowed_methods(request: Request) -> set[str]:
    path = request.url.path
    for route in request.app.routes:
        if route.path == path:
            return set(getattr(route, "methods", ())) - {"OPTIONS", "HEAD"} or {"GET"}
    return {"GET", "POST"}


def handle_unexpected(request: Request, exc: Exception) -> Response[bytes]:
    incident = uuid.uuid4().hex[:12]
    log.error("internal error %s on %s %s", incident, request.method, request.url.path, exc_info=exc)
    return rpc_response(Code.INTERNAL, f"internal error (incident {incident}); the server log has the details")


EXCEPTION_HANDLERS = {
    RpcError: handle_rpc_error,
    WireError: handle_wire_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
