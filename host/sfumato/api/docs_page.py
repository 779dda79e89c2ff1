"""A self-contained API docs page rendered from the OpenAPI document (works offline)."""

from __future__ import annotations

import html
import json
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Response

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2.5rem}
.op{margin:1rem 0;padding:.6rem 1rem;border-left:4px solid #4a7;background:#f6faf7}
.method{font-weight:bold;display:inline-block;min-width:4rem}
pre{background:#f4f4f4;padding:.6rem;overflow:auto;font-size:.85rem}
details{margin:.4rem 0}
"""


def _dump(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, default=lambda o: o.decode("latin-1") if isinstance(o, bytes) else str(o))


def render_docs(document: dict[str, Any]) -> str:
    info = document.get("info", {})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(info.get('title', 'API'))}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(info.get('title', 'API'))} <small>{html.escape(str(info.get('version', '')))}</small></h1>",
        f"<p>{html.escape(info.get('description', ''))}</p>",
        "<p>Machine-readable: <a href='/schema/openapi.json'>/schema/openapi.json</a></p><h2>Routes</h2>",
    ]
    for path, item in sorted(document.get("paths", {}).items()):
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            parts.append(
                f"<div class='op'><span class='method'>{method.upper()}</span> <code>{html.escape(path)}</code>"
                f" — {html.escape(operation.get('summary', ''))}<p>{html.escape(operation.get('description', ''))}</p>"
            )
            if body:
                parts.append(f"<p>Body: <code>{html.escape(_dump(body))}</code></p>")
            parts.append("</div>")
    parts.append("<h2>Messages</h2>")
    for name, schema in sorted(document.get("components", {}).get("schemas", {}).items()):
        parts.append(
            f"<details id='{html.escape(name)}'><summary><code>{html.escape(name)}</code></summary>"
            f"<pre>{html.escape(_dump(schema, indent=2))}</pre></details>"
        )
    parts.append("</body></html>")
    return "".join(parts)


class DocsController(Controller):
    include_in_schema = False

    @get("/docs")
    async def docs(self, request: Request) -> Response[str]:
        schema = request.app.openapi_schema.to_schema()
        return Response(render_docs(schema), media_type="text/html")
