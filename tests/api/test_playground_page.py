"""The playground page and its files: served at / and /web/<digest>/, cached by digest, nothing from another host.

What the page does is tested in a real browser (tests/browser/).
"""

from __future__ import annotations

import gzip
import re
from importlib.resources import files

import httpx

EXTERNAL_URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.I)


def web_files() -> dict[str, str]:
    folder = files("sfumato") / "web"
    return {entry.name: entry.read_text(encoding="utf-8") for entry in folder.iterdir() if entry.is_file()}


def test_the_page_and_its_files_reference_no_other_host():
    texts = web_files()
    assert {"index.html", "app.js", "playground.css"} <= set(texts)
    for name, text in texts.items():
        assert EXTERNAL_URL.findall(text) == [], name
        assert "@import" not in text and "url(http" not in text, name


def test_every_module_the_page_imports_is_served(server):
    with server.client() as client:
        page = client.get("/")
        version = re.search(r'src="/web/([0-9a-f]+)/app\.js"', page.text).group(1)
        pending, seen = ["app.js"], set()
        while pending:
            name = pending.pop()
            seen.add(name)
            response = client.get(f"/web/{version}/{name}")
            assert response.status_code == 200, name
            pending += [found for found in re.findall(r'from "\./([\w.-]+\.js)"', response.text) if found not in seen]
    assert {"app.js", "api.js", "request.js", "mask.js", "init-image.js"} <= seen


def test_the_page_needs_no_key_and_is_revalidated(server):
    with server.client() as client:
        page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert "{{ASSETS}}" not in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self' blob:" in policy and "script-src 'self';" in policy


def test_files_are_cached_for_a_year_under_their_digest(server):
    with server.client() as client:
        version = re.search(r'href="/web/([0-9a-f]+)/playground\.css"', client.get("/").text).group(1)
        script = client.get(f"/web/{version}/app.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
        again = client.get(f"/web/{version}/app.js", headers={"If-None-Match": script.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        # A page cached before an upgrade asks for an old digest: today's file, briefly cached.
        stale = client.get("/web/0123456789ab/app.js")
        assert stale.status_code == 200 and stale.content == script.content
        assert stale.headers["cache-control"] == "public, max-age=60"
        missing = client.get(f"/web/{version}/nope.js")
        assert missing.status_code == 404 and missing.json()["code"] == 5
        assert client.get(f"/web/{version}/index.html").status_code == 404


def test_files_are_gzipped_for_browsers_that_accept_it(server):
    page = httpx.get(server.url + "/", headers={"Accept-Encoding": "identity"})
    version = re.search(r'src="/web/([0-9a-f]+)/app\.js"', page.text).group(1)
    plain = httpx.get(f"{server.url}/web/{version}/app.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    with httpx.stream("GET", f"{server.url}/web/{version}/app.js", headers={"Accept-Encoding": "gzip, br"}) as packed:
        raw = b"".join(packed.iter_raw())
        assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content) / 2
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
