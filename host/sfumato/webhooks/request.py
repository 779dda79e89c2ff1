"""The ``webhook_url`` host extension parameter: taken out of a request before its engine sees it."""

from __future__ import annotations

from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from sfumato import wire
from sfumato.config import WebhookSettings
from sfumato.errors import invalid

PARAMETER = "webhook_url"
MAX_URL_CHARS = 2048


def take_webhook_url(request: wire.Request, settings: WebhookSettings) -> str | None:
    """Remove ``webhook_url`` from ``request.image.extension.parameters`` and check it; None if absent."""
    extension = request.image.extension if request.image is not None else None
    if extension is None or not extension.parameters:
        return None
    found = [(i, p) for i, p in enumerate(extension.parameters) if p.name == PARAMETER]
    if not found:
        return None
    position, parameter = found[0]
    path = f"image.extension.parameters[{position}]"
    if len(found) > 1:
        raise invalid(f"image.extension.parameters[{found[1][0]}].name: {PARAMETER!r} given twice")
    if not settings.allow:
        raise invalid(f"{path}.name: {PARAMETER!r}: this server sends no webhooks (its [webhooks] allow list is empty)")
    url = parameter.str_value
    if not url or parameter.float_value is not None or parameter.int_value is not None:
        raise invalid(f"{path}: {PARAMETER!r} takes a str value (set 'str' to an http(s) URL)")
    if len(url) > MAX_URL_CHARS:
        raise invalid(f"{path}.str: the URL has {len(url)} characters; the limit is {MAX_URL_CHARS}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(f"{path}.str: {url[:100]!r} is not an http(s) URL")
    if not any(fnmatchcase(url, pattern) for pattern in settings.allow):
        raise invalid(f"{path}.str: {url[:100]!r} matches no pattern of this server's [webhooks] allow list")
    extension.parameters = [p for p in extension.parameters if p is not parameter]
    return url
