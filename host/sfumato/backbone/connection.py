"""Connecting to the backbone, and showing its URL without secrets."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as redis


def redact(url: str) -> str:
    """The URL with any password replaced, for logs, errors and /plugins."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


def connect(url: str) -> redis.Redis:
    """A client with its own connection pool; connects lazily and reconnects by itself."""
    return redis.Redis.from_url(
        url,
        decode_responses=False,
        health_check_interval=10,
        socket_keepalive=True,
        retry_on_timeout=True,
    )
