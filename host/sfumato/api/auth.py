"""Who is calling: optional API keys (``Authorization: Bearer <key>``) and the client identity.

Keys are compared in constant time. The identity (``key:<index>`` or, with keys off,
``addr:<ip>``) is what quotas and rate limits count by; the secret itself is never kept.
"""

from __future__ import annotations

import hmac

from litestar.types import ASGIApp, Receive, Scope, Send

from sfumato.api.errors import status_body
from sfumato.api.rest_v1.errors import error_body, is_rest_path, rest_name
from sfumato.errors import Code

# Liveness/readiness probes come from orchestrators that hold no key; the API reference is
# public documentation of the protocol (a browser opening it sends no key; its forms do),
# and so is the playground page with its static files (its API calls carry the key).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/"})
OPEN_PREFIXES = ("/docs", "/schema", "/web/")
CLIENT_STATE_KEY = "sfumato.client"


class _Refusal(Exception):
    def __init__(self, status: int, code: Code, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _matching_key(headers: list[tuple[bytes, bytes]], keys: list[bytes]) -> int:
    """The index of the key the request carries, or a refusal."""
    values = [value for name, value in headers if name == b"authorization"]
    if not values:
        raise _Refusal(401, Code.UNAUTHENTICATED, "missing Authorization header: send 'Authorization: Bearer <key>'")
    if len(values) > 1:
        # Proxies and frameworks disagree on which of two copies wins: refuse rather than guess.
        raise _Refusal(400, Code.INVALID_ARGUMENT, "the request has more than one Authorization header; send exactly one")
    scheme, _, token = values[0].partition(b" ")
    token = token.strip()
    if scheme.lower() != b"bearer" or not token:
        raise _Refusal(401, Code.UNAUTHENTICATED, "invalid API key: send 'Authorization: Bearer <key>'")
    # Check every key so timing does not reveal which one (or whether any) matched.
    found = -1
    for index, key in enumerate(keys):
        if hmac.compare_digest(token, key):
            found = index
    if found < 0:
        raise _Refusal(401, Code.UNAUTHENTICATED, "invalid API key: send 'Authorization: Bearer <key>'")
    return found


def client_of(scope: Scope) -> str:
    """The identity set by the middleware; the address when it did not run (probes, tests)."""
    state = scope.get("state") or {}
    return state.get(CLIENT_STATE_KEY) or _address(scope)


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"


def api_key_middleware(keys: list[str]):  # type: ignore[no-untyped-def]
    encoded = [key.encode() for key in keys]
    if any(not key.strip() for key in encoded):
        raise ValueError("empty API keys are refused; check server.api_keys")  # config checks this first

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            state = scope.setdefault("state", {})
            path = scope["path"]
            if not encoded or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or scope["method"] == "OPTIONS":
                state[CLIENT_STATE_KEY] = _address(scope)
                await app(scope, receive, send)
                return
            try:
                state[CLIENT_STATE_KEY] = f"key:{_matching_key(scope['headers'], encoded)}"
            except _Refusal as refusal:
                await _refuse(send, refusal, path)
                return
            await app(scope, receive, send)

        return middleware

    return factory


async def _refuse(send: Send, refusal: _Refusal, path: str) -> None:
    # REST v1 clients read errors as {"id", "name", "message"}.
    body = error_body(rest_name(refusal.status), refusal.message) if is_rest_path(path) \
        else status_body(refusal.code, refusal.message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if refusal.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="sfumato"'))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
