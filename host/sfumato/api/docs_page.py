"""The API reference page: the OpenAPI document rendered by a small script, offline.

One HTML response carries the page, its style, its script and the document itself,
so it needs no other request, no CDN and no web font. It is served at ``/docs`` and,
as an OpenAPI render plugin, at ``/schema`` and the paths where Litestar's own
(CDN-loading) viewers would be.
"""

from __future__ import annotations

import html
import re
from functools import cache
from importlib.resources import files
from typing import Any

from litestar import Controller, Request, get
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.response import Response
from litestar.serialization import encode_json

_ASSETS = files("sfumato.api") / "docs_assets"
_PLACEHOLDER = re.compile(r"\{\{([A-Z]+)\}\}")
# Where Litestar's viewers live under /schema; bookmarks to them land on this page.
SCHEMA_VIEWER_PATHS = ["/", "/redoc", "/swagger", "/elements", "/rapidoc", "/scalar"]


@cache
def _asset(name: str) -> str:
    return (_ASSETS / name).read_text(encoding="utf-8")


def _script_safe_json(value: Any) -> str:
    # Encoded as /schema/openapi.json is. Inside <script>, "</" would end the element early;
    # \u003c is the same JSON string.
    return encode_json(value).decode().replace("<", "\\u003c")


def render_docs(document: dict[str, Any]) -> str:
    info = document.get("info", {})
    values = {
        "TITLE": html.escape(str(info.get("title", "API"))),
        "VERSION": html.escape(str(info.get("version", ""))),
        "STYLE": _asset("docs.css"),
        "SCRIPT": _asset("docs.js"),
        "DOCUMENT": _script_safe_json(document),
    }
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], _asset("docs.html"))


class DocsRenderPlugin(OpenAPIRenderPlugin):
    """Serves the reference page under the OpenAPI path (``/schema``) instead of a CDN viewer."""

    def __init__(self) -> None:
        super().__init__(path=SCHEMA_VIEWER_PATHS, favicon="", style="")

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        return render_docs(openapi_schema).encode()


class DocsController(Controller):
    include_in_schema = False

    @get("/docs", media_type="text/html")
    async def docs(self, request: Request) -> Response[str]:
        return Response(render_docs(request.app.openapi_schema.to_schema()), media_type="text/html")
