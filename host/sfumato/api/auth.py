"""Optional API keys: ``Authorization: Bearer <key>``, compared in constant time."""

from __future__ import annotations

import hmac

from litestar.types import ASGIApp, Receive, Scope, Send

from sfumato.api.errors import status_body
from sfumato.errors import Code

# Liveness/readiness probes come from orchestrators that hold no key.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def _authorized(header: bytes | None, keys: list[bytes]) -> bool:
    if header is None:
        return False
    scheme, _, token = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    token = token.strip()
    # Check every key so timing does not reveal which one (or whether any) matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(token, key)
    return matched


def api_key_middleware(keys: list[str]):  # type: ignore[no-untyped-def]
    encoded = [key.encode() for key in keys]

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or not encoded or scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS":
                await app(scope, receive, send)
                return
            header = dict(scope["headers"]).get(b"authorization")
            if _authorized(header, encoded):
                await app(scope, receive, send)
                return
            reason = "missing Authorization header" if header is None else "invalid API key"
            body = status_body(Code.UNAUTHENTICATED, f"{reason}: send 'Authorization: Bearer <key>'")
            await send({
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="sfumato"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            })
            await send({"type": "http.response.body", "body": body})

        return middleware

    return factory
