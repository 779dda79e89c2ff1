"""The notice signature: HMAC-SHA256 over ``<timestamp>.<body>``, sent as ``Sfumato-Signature: t=…,v1=…``."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Sfumato-Signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` sent at ``timestamp`` (unix seconds, default now)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, tolerance_seconds: float = 300.0, now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is recent (what a receiver checks)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
