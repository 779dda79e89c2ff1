"""The playground page at ``/`` and its static files under ``/web/<version>/``.

The page is plain ES modules and CSS from ``sfumato/web`` (no build step, nothing
loaded from another host). Asset URLs carry a digest of the files, so browsers may
keep them for a year; the page itself is revalidated on every load. Files are sent
gzipped to browsers that accept it (compressed once, when first asked for).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache, cached_property
from importlib.resources import files

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Response

from sfumato.errors import Code, RpcError

_WEB = files("sfumato") / "web"
_PAGE = "index.html"
# Litestar adds "; charset=utf-8" to text types.
_MEDIA_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
ASSET_CACHE = "public, max-age=31536000, immutable"
# A stale digest (a page cached before an upgrade) still gets today's file, briefly cached.
STALE_ASSET_CACHE = "public, max-age=60"
PAGE_CACHE = "no-cache"
# The browser itself refuses anything from another host (images: results arrive as data:/blob: URLs).
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
               "connect-src 'self' blob:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str

    @cached_property
    def etag(self) -> str:
        # Weak: the gzipped and the plain bytes are the same file.
        return 'W/"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'

    @cached_property
    def gzipped(self) -> bytes | None:
        if self.media_type.startswith("image/png"):
            return None  # already compressed
        # mtime=0: the same bytes from every server process.
        return gzip.compress(self.body, compresslevel=9, mtime=0)


@cache
def _assets() -> dict[str, Asset]:
    found = {}
    for entry in _WEB.iterdir():
        media_type = _MEDIA_TYPES.get("." + entry.name.rpartition(".")[2])
        if entry.is_file() and media_type:
            found[entry.name] = Asset(entry.read_bytes(), media_type)
    return found


@cache
def assets_version() -> str:
    """A digest of every file of the page: it changes whenever any of them does."""
    digest = hashlib.sha256()
    for name, asset in sorted(_assets().items()):
        digest.update(name.encode() + b"\0" + asset.body)
    return digest.hexdigest()[:12]


@cache
def _page() -> Asset:
    return Asset(_assets()[_PAGE].body.replace(b"{{ASSETS}}", f"/web/{assets_version()}".encode()), _MEDIA_TYPES[".html"])


def _accepts_gzip(request: Request) -> bool:
    return any(part.split(";")[0].strip() == "gzip" for part in request.headers.get("accept-encoding", "").split(","))


def _answer(request: Request, asset: Asset, cache_control: str, **extra: str) -> Response[bytes]:
    headers = {"Cache-Control": cache_control, "ETag": asset.etag, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff", **extra}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    if asset.gzipped is not None and _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


class PlaygroundController(Controller):
    include_in_schema = False

    @get("/")
    async def page(self, request: Request) -> Response[bytes]:
        return _answer(request, _page(), PAGE_CACHE, **{"Content-Security-Policy": PAGE_POLICY})

    @get("/web/{version:str}/{name:str}")
    async def asset(self, request: Request, version: FromPath[str], name: FromPath[str]) -> Response[bytes]:
        asset = _assets().get(name)
        if asset is None or name == _PAGE:
            raise RpcError(Code.NOT_FOUND, f"no playground file {name[:64]!r}")
        return _answer(request, asset, ASSET_CACHE if version == assets_version() else STALE_ASSET_CACHE)
