"""Who is calling over native gRPC, and whether they may call now.

The same rules as the HTTP middleware (:mod:`sfumato.api.auth`,
:mod:`sfumato.api.rate_limit`): ``authorization: Bearer <key>`` metadata checked in
constant time against ``server.api_keys``; the client is ``key:<index>``, or
``addr:<ip>`` with keys off; ``quotas.requests_per_minute`` per client. (gRPC-web
calls arrive on the HTTP port and pass the middleware itself.)
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote

from sfumato.api.auth import _matching_key, _Refusal  # the HTTP API's key check, reused as is
from sfumato.api.rate_limit import TokenBuckets
from sfumato.config import Settings
from sfumato.errors import Code, RpcError


class CallGate:
    def __init__(self, settings: Settings) -> None:
        self.keys = [key.encode() for key in settings.server.api_keys]
        self.per_minute = settings.quotas.requests_per_minute
        self.buckets = TokenBuckets(self.per_minute) if self.per_minute else None

    def admit(self, metadata: Iterable[tuple[str, str | bytes]], peer: str) -> str:
        """The client identity, or an RpcError (UNAUTHENTICATED, RESOURCE_EXHAUSTED...)."""
        if self.keys:
            headers = [
                (b"authorization", value.encode() if isinstance(value, str) else value)
                for key, value in metadata
                if key.lower() == "authorization"
            ]
            try:
                client = f"key:{_matching_key(headers, self.keys)}"
            except _Refusal as refusal:
                raise RpcError(refusal.code, refusal.message) from None
        else:
            client = f"addr:{peer_address(peer)}"
        if self.buckets is not None:
            wait = self.buckets.take(client)
            if wait:
                raise RpcError(
                    Code.RESOURCE_EXHAUSTED,
                    f"too many requests: this client may send {self.per_minute} per minute "
                    "(quotas.requests_per_minute)",
                    retry_after_seconds=wait,
                )
        return client


def peer_address(peer: str) -> str:
    """The IP of a grpcio peer string: ``ipv4:127.0.0.1:5000``, ``ipv6:%5B::1%5D:5000``."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        host = unquote(rest).rsplit(":", 1)[0]
        return host.strip("[]")
    return peer or "unknown"
