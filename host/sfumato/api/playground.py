"""The playground page at ``/`` and its static files under ``/web/<version>/``.

The page is plain ES modules and CSS from ``sfumato/web`` (no build step, nothing
loaded from another host). Asset URLs carry a digest of the files, so browsers may
keep them for a year; the page itself is revalidated on every load.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from litestar import Controller, Request, get
from litestar.response import Response

from sfumato.errors import Code, RpcError

_WEB = files("sfumato") / "web"
_PAGE = "index.html"
_ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
ASSET_CACHE = "public, max-age=31536000, immutable"
# A stale digest (a page cached before an upgrade) still gets today's file, briefly cached.
STALE_ASSET_CACHE = "public, max-age=60"
PAGE_CACHE = "no-cache"


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def _assets() -> dict[str, Asset]:
    found = {}
    for entry in _WEB.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and (suffix in _ASSET_TYPES or entry.name == _PAGE):
            body = entry.read_bytes()
            media_type = _ASSET_TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
            found[entry.name] = Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return found


@cache
def assets_version() -> str:
    """A digest of every asset: it changes whenever any file of the page does."""
    digest = hashlib.sha256()
    for name, asset in sorted(_assets().items()):
        digest.update(name.encode() + b"\0" + asset.body)
    return digest.hexdigest()[:12]


@cache
def _page() -> Asset:
    body = _assets()[_PAGE].body.replace(b"{{ASSETS}}", f"/web/{assets_version()}".encode())
    return Asset(body, "text/html; charset=utf-8", '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


def _answer(request: Request, asset: Asset, cache_control: str) -> Response[bytes]:
    headers = {"Cache-Control": cache_control, "ETag": asset.etag, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


class PlaygroundController(Controller):
    include_in_schema = False

    @get("/", media_type="text/html")
    async def page(self, request: Request) -> Response[bytes]:
        return _answer(request, _page(), PAGE_CACHE)

    @get("/web/{version:str}/{name:str}")
    async def asset(self, request: Request, version: str, name: str) -> Response[bytes]:
        asset = _assets().get(name)
        if asset is None or name == _PAGE:
            raise RpcError(Code.NOT_FOUND, f"no playground file {name[:64]!r}")
        return _answer(request, asset, ASSET_CACHE if version == assets_version() else STALE_ASSET_CACHE)
