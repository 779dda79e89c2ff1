"""The API reference page works offline: nothing it references lives on another host."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

EXTERNAL_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)\\]+""")
# Where Litestar's own viewers would be; each must not load a CDN either.
SCHEMA_PAGES = ["/schema", "/schema/", "/schema/redoc", "/schema/swagger", "/schema/elements", "/schema/rapidoc",
                "/schema/scalar"]


def foreign_hosts(text: str, own_host: str) -> set[str]:
    hosts = {urlsplit(url if url.startswith("http") else "http:" + url).netloc for url in EXTERNAL_URL.findall(text)}
    return {host for host in hosts if host and host != own_host}


@pytest.fixture(scope="module")
def pages(server) -> dict[str, str]:
    with server.client() as client:
        responses = {path: client.get(path) for path in ["/docs", *SCHEMA_PAGES]}
        document = client.get("/schema/openapi.json").json()
    for path, response in responses.items():
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html"), path
    return {"openapi": json.dumps(document), **{path: response.text for path, response in responses.items()}}


def test_no_page_loads_anything_from_another_host(server, pages):
    own_host = urlsplit(server.url).netloc
    for path in ["/docs", *SCHEMA_PAGES]:
        page = pages[path]
        assert foreign_hosts(page, own_host) == set(), path
        assert "fonts.googleapis" not in page and "cdn." not in page, path
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=['\"]?(https?:)?//", page), path


def test_the_page_lists_every_operation(server, pages):
    document = json.loads(pages["openapi"])
    page = pages["/docs"]
    for path in document["paths"]:
        assert path in page, path
    embedded = re.search(r'<script type="application/json" id="openapi-document">(.*?)</script>', page, re.S)
    assert embedded and json.loads(embedded.group(1)) == document


def test_the_page_has_a_key_field_and_try_it_forms(pages):
    page = pages["/docs"]
    assert 'id="api-key"' in page and "sessionStorage" in page and "Bearer " in page
    assert "Try it" in page and "getReader" in page and "data:${artifact.mime};base64," in page


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_page_script_parses(pages, tmp_path):
    script = re.search(r"<script>(.*)</script>", pages["/docs"], re.S).group(1)
    source = tmp_path / "docs.js"
    source.write_text(script)
    result = subprocess.run(["node", "--check", str(source)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
