"""Webhooks against a real receiver on loopback: signatures verify, 500s are retried, the allow-list refuses."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from sfumato.testing import RequestBuilder, RunningServer, start_server
from sfumato.webhooks.signing import verify

SECRET = "webhook-test-secret"


class Receiver:
    """Records every POST; answers each path's first ``fail[path]`` tries with 500."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.fail: dict[str, int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.calls.append({"path": self.path, "body": body, "headers": dict(self.headers),
                                           "at": time.monotonic()})
                    failing = receiver.fail.get(self.path, 0)
                    if failing:
                        receiver.fail[self.path] = failing - 1
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, path: str, count: int, limit: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with self.lock:
                calls = [call for call in self.calls if call["path"] == path]
            if len(calls) >= count:
                return calls
            time.sleep(0.02)
        raise AssertionError(f"{path}: {len(calls)} calls, expected {count}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiving = Receiver()
    yield receiving
    receiving.server.shutdown()


@pytest.fixture(scope="module")
def hook_server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[RunningServer]:
    config = f"""
[server]
default_engine = "test-pattern"
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0
[webhooks]
allow = ["http://127.0.0.1:{receiver.port}/hooks/*"]
secret = "{SECRET}"
max_attempts = 4
backoff_seconds = 0.1
[[engines]]
id = "test-pattern"
kind = "test-pattern"
"""
    running = start_server(tmp_path_factory.mktemp("hooks"), config=config, plugins=["test_pattern"])
    yield running
    running.stop()


def _body(url: str, request_id: str, **extensions) -> dict:
    builder = RequestBuilder().request_id(request_id).prompt("hook").size(32, 32).steps(2).samples(2).seeds(5)
    builder = builder.extension("webhook_url", url)
    for name, value in extensions.items():
        builder = builder.extension(name, value)
    return builder.build()


def test_a_finished_job_posts_a_signed_notice(hook_server, receiver):
    url = f"http://127.0.0.1:{receiver.port}/hooks/ok"
    answers = hook_server.generate(_body(url, "hook-ok"))
    assert len(answers) == 2
    (call,) = receiver.wait_for("/hooks/ok", 1)
    signature = call["headers"]["Sfumato-Signature"]
    assert verify(SECRET, call["body"], signature)
    assert not verify("another-secret", call["body"], signature)
    assert not verify(SECRET, call["body"] + b" ", signature)
    notice = json.loads(call["body"])
    assert notice["type"] == "job.finished" and notice["requestId"] == "hook-ok"
    assert notice["status"] == {"code": 0, "message": ""}
    assert [a["answerId"] for a in notice["answers"]] == ["hook-ok-0", "hook-ok-1"]
    assert [a["seed"] for a in notice["answers"]] == [5, 6]


def test_the_docs_snippet_verifies_the_signature(hook_server, receiver):
    """The verification code in docs/api.md, run as a receiver would."""
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    snippet = docs.split("def verify(secret: str, body: bytes, header: str, tolerance: float = 300)")[1]
    code = "import hashlib, hmac, time\ndef verify(secret: str, body: bytes, header: str, tolerance: float = 300)" + snippet.split("```")[0]
    namespace: dict = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # noqa: S102 - our own docs
    url = f"http://127.0.0.1:{receiver.port}/hooks/docs"
    hook_server.generate(_body(url, "hook-docs"))
    (call,) = receiver.wait_for("/hooks/docs", 1)
    assert namespace["verify"](SECRET, call["body"], call["headers"]["Sfumato-Signature"])
    assert not namespace["verify"](SECRET, call["body"].replace(b"hook-docs", b"hook-doct"), call["headers"]["Sfumato-Signature"])


def test_a_500_is_retried_with_backoff_and_the_same_delivery_id(hook_server, receiver):
    receiver.fail["/hooks/flaky"] = 2
    url = f"http://127.0.0.1:{receiver.port}/hooks/flaky"
    hook_server.generate(_body(url, "hook-flaky"))
    calls = receiver.wait_for("/hooks/flaky", 3)
    time.sleep(0.5)
    assert len([c for c in receiver.calls if c["path"] == "/hooks/flaky"]) == 3, "delivered on the 3rd try, then no more"
    assert len({c["headers"]["Sfumato-Delivery"] for c in calls}) == 1
    assert [c["headers"]["Sfumato-Attempt"] for c in calls] == ["1", "2", "3"]
    gaps = [b["at"] - a["at"] for a, b in zip(calls, calls[1:])]
    assert gaps[0] >= 0.07 and gaps[1] >= 0.15, gaps  # 0.1 s then 0.2 s, ±20 %
    assert all(verify(SECRET, c["body"], c["headers"]["Sfumato-Signature"]) for c in calls)


def test_a_failed_job_notifies_its_error(hook_server, receiver):
    url = f"http://127.0.0.1:{receiver.port}/hooks/failed"
    response = hook_server.post("/grpcgateway/generate", _body(url, "hook-failed", fail="error"))
    assert response.status_code in (200, 500)
    (call,) = receiver.wait_for("/hooks/failed", 1)
    notice = json.loads(call["body"])
    assert notice["status"]["code"] == 13 and "fault injected" in notice["status"]["message"]


def test_a_url_outside_the_allow_list_is_a_400(hook_server, receiver):
    for url in ("http://example.com/hooks/x", f"http://127.0.0.1:{receiver.port}/elsewhere", "ftp://127.0.0.1/hooks/x"):
        response = hook_server.post("/grpcgateway/generate", _body(url, "hook-refused"))
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["code"] == 3 and "image.extension.parameters[0]" in error["message"], error


def test_webhooks_are_off_by_default(events_server):
    body = _body("http://127.0.0.1:9/hooks/x", "hook-off")
    response = httpx.post(f"{events_server.url}/grpcgateway/generate", json=body,
                          headers={"Authorization": f"Bearer {events_server.api_key}"}, timeout=30)
    assert response.status_code == 400
    assert "webhook_url" in response.json()["message"] and "[webhooks] allow" in response.json()["message"]
