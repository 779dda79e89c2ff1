"""Slow, idle and too many connections are closed or refused; slow answers are not cut off.

Each test talks raw HTTP/1.1 over sockets to a real server with one-second timeouts,
and checks the time it took against bounds with slack for a busy machine.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sfumato.testing import RequestBuilder, RunningServer, start_server

TIMEOUT = 1.0
# How late a close may come on a busy machine.
SLACK = 2.0

CONFIG = """
[server]
default_engine = "test-pattern"
header_timeout_seconds = {header}
body_timeout_seconds = 1.0
keepalive_timeout_seconds = 1.0
max_connections = {max_connections}

[[engines]]
id = "test-pattern"
kind = "test-pattern"
"""

GENERATE = "/grpcgateway/generate"


# Every guard holds on both of uvicorn's HTTP parsers the server can run (server.http_parser).
PARSERS = ["httptools", "h11"]


def _start(tmp_path: Path, header: float, max_connections: int, parser: str) -> RunningServer:
    return start_server(
        tmp_path,
        config=CONFIG.format(header=header, max_connections=max_connections),
        plugins=["test_pattern"],
        env={"SFUMATO_TEST_CONTROLS": "1", "SFUMATO_HTTP_PARSER": parser},
    )


@pytest.fixture(scope="module", params=PARSERS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = _start(tmp_path_factory.mktemp("slow-clients"), header=TIMEOUT, max_connections=50, parser=request.param)
    yield running
    running.stop()


def connect(server: RunningServer) -> socket.socket:
    address = urlsplit(server.url)
    return socket.create_connection((address.hostname, address.port), timeout=10)


def read_until_closed(sock: socket.socket, limit: float = TIMEOUT + SLACK + 3) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and seconds until the close."""
    started = time.monotonic()
    received = b""
    sock.settimeout(0.1)
    while time.monotonic() - started < limit:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    else:
        raise AssertionError(f"the server kept the connection open for {limit}s; got {received[:200]!r}")
    return received, time.monotonic() - started


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response with a Content-Length body; the connection stays open."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of a response"
        body += chunk
    return int(status_line.split()[1]), headers, body


def parse_whole(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def generate_head(length: int) -> bytes:
    return (
        f"POST {GENERATE} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def small_request_body(steps: int = 2, **extensions: int) -> bytes:
    builder = RequestBuilder().prompt("slow").size(16, 16).steps(steps)
    for name, value in extensions.items():
        builder.extension(name, value)
    return json.dumps(builder.build()).encode()


def test_a_connection_that_sends_nothing_is_closed(server):
    with connect(server) as sock:
        received, seconds = read_until_closed(sock)
    assert received == b""
    assert TIMEOUT * 0.8 <= seconds <= TIMEOUT + SLACK


def test_half_sent_headers_are_closed(server):
    with connect(server) as sock:
        sock.sendall(b"POST /grpcgateway/generate HTTP/1.1\r\nHost: test\r\nContent-Ty")
        received, seconds = read_until_closed(sock)
    assert received == b""
    assert seconds <= TIMEOUT + SLACK


def test_headers_trickled_a_byte_at_a_time_are_closed_on_time(server):
    # Each byte is in time on its own; the whole header block is not.
    request = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Padding: " + b"a" * 100
    started = time.monotonic()
    with connect(server) as sock:
        sock.settimeout(0.1)
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            raise AssertionError("the server read 100+ trickled header bytes without closing")
    assert time.monotonic() - started <= TIMEOUT + SLACK


def test_a_stalled_body_gets_408_and_the_connection_closes(server):
    with connect(server) as sock:
        sock.sendall(generate_head(1000) + b'{"prompt":')
        received, seconds = read_until_closed(sock)
    assert TIMEOUT * 0.8 <= seconds <= TIMEOUT + SLACK
    status, headers, body = parse_whole(received)
    assert status == 408
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    error = json.loads(body)
    assert error["code"] == 4 and error["details"] == []
    assert "server.body_timeout_seconds" in error["message"]


def test_a_body_sent_in_pieces_within_the_timeout_is_served(server):
    body = small_request_body()
    with connect(server) as sock:
        sock.sendall(generate_head(len(body)) + body[:10])
        time.sleep(TIMEOUT / 4)
        sock.sendall(body[10:20])
        time.sleep(TIMEOUT / 4)
        sock.sendall(body[20:])
        received, _ = read_until_closed(sock)
    # Generate streams NDJSON (chunked): one answer line, then the idle connection is closed.
    status, _, payload = parse_whole(received)
    assert status == 200 and b'"result"' in payload


def test_an_idle_keep_alive_connection_is_closed(server):
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        status, _, _ = read_response(sock)
        assert status == 200
        received, seconds = read_until_closed(sock)
    assert received == b""
    assert TIMEOUT * 0.8 <= seconds <= TIMEOUT + SLACK


def test_a_half_sent_second_request_is_closed(server):
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        assert read_response(sock)[0] == 200
        time.sleep(TIMEOUT / 2)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        received, seconds = read_until_closed(sock)
    assert received == b""
    assert seconds <= TIMEOUT + SLACK


def test_a_generate_stream_slower_than_every_timeout_completes(server):
    # 8 steps × 400 ms: over three seconds with no byte sent either way.
    body = small_request_body(steps=8, step_delay_ms=400)
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(generate_head(len(body)) + body)
        received, seconds = read_until_closed(sock, limit=30)
    status, headers, payload = parse_whole(received)
    assert status == 200, received[:500]
    # One image: the answer is sent whole once it is ready (Content-Length), not as a stream.
    assert headers.get("content-length") == str(len(payload))
    assert b'"result"' in payload and b'"error"' not in payload
    # The stream itself outlasted the timeouts (the close after it is keep-alive's).
    assert seconds >= 3 * TIMEOUT, seconds
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("parser", PARSERS)
def test_connections_over_the_cap_are_refused_and_service_resumes(tmp_path, parser):
    # A long header timeout, so the held connections stay open for the whole test.
    server = _start(tmp_path, header=10.0, max_connections=3, parser=parser)
    held: list[socket.socket] = []
    try:
        time.sleep(0.3)  # the readiness probe's connection is gone
        held = [connect(server) for _ in range(3)]
        time.sleep(0.3)  # let the server accept them
        with connect(server) as extra:
            started = time.monotonic()
            try:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                received, _ = read_until_closed(extra, limit=5)
            except (BrokenPipeError, ConnectionResetError):
                received = b""  # refused outright is fine too
            assert time.monotonic() - started < 2.0
        if received:
            status, headers, body = parse_whole(received)
            assert status == 503 and headers["retry-after"] == "1"
            assert json.loads(body)["code"] == 14
            assert "server.max_connections" in json.loads(body)["message"]
        # An over-cap connection that sends nothing is not kept for the header timeout.
        with connect(server) as silent:
            _, seconds = read_until_closed(silent, limit=5)
            assert seconds < 5
    finally:
        for sock in held:
            sock.close()
    try:
        deadline = time.monotonic() + 5
        while True:
            with connect(server) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                status, _, _ = parse_whole(read_until_closed(sock)[0])
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 200
        assert len(server.generate(RequestBuilder().prompt("after").size(16, 16).build())) == 1
    finally:
        server.stop()


def test_client_text_cannot_forge_a_log_line(server):
    forged = "2026-01-01 00:00:00,000 INFO sfumato.api: admin logged in"
    # requestId reaches the job's log line. The API refuses line breaks in it (400), but
    # may let other characters through: e.g. a right-to-left override, which would show
    # the rest of the line reversed.
    attempts = {f"inject\n{forged}": f"inject\\n{forged}", "\u202edelbasid": "\\u202edelbasid"}
    escaped_in_log = []
    for request_id, escaped in attempts.items():
        body = RequestBuilder().prompt("log").size(16, 16).request_id(request_id).build()
        response = server.post(GENERATE, body)
        assert response.status_code in (200, 400), response.text
        if response.status_code == 200:
            escaped_in_log.append(escaped)
    server.generate(RequestBuilder().prompt("log").size(16, 16).request_id("format-check").build())
    own_format = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO sfumato[.\w]*: job format-check on test-pattern: OK")
    deadline = time.monotonic() + 5
    while not any(own_format.match(line) for line in server.log().splitlines()):
        assert time.monotonic() < deadline, f"no job line in the server's format:\n{server.log()[-2000:]}"
        time.sleep(0.05)
    log = server.log()
    assert not any(line.startswith(forged) for line in log.splitlines())
    assert "\u202e" not in log
    for escaped in escaped_in_log:
        assert f"job {escaped} on test-pattern: OK" in log


def _head_with(padding: int, path: str = "/healthz") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\nX-Padding: {'a' * padding}\r\n\r\n".encode()


def test_headers_over_the_limit_get_431_and_the_connection_closes(server):
    # The default server.max_header_bytes is 64 KiB; httptools alone would take any size.
    # In one read, trickled, and trickled with pauses so that every piece is a read of its own
    # (below h11's own 16 KiB buffer limit each time, which must not answer first with a bare 400).
    for pieces, pause in ((1, 0.0), (40, 0.0), (40, 0.01)):
        head = _head_with(200_000)
        with connect(server) as sock:
            try:
                for start in range(0, len(head), len(head) // pieces):
                    sock.sendall(head[start:start + len(head) // pieces])
                    time.sleep(pause)
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed while we were still sending: the answer is already in our buffer
            received, _ = read_until_closed(sock)
        status, headers, body = parse_whole(received)
        assert status == 431 and headers["connection"] == "close"
        assert json.loads(body)["code"] == 3
        assert "server.max_header_bytes" in json.loads(body)["message"]


def test_headers_under_the_limit_and_large_bodies_are_served(server):
    with connect(server) as sock:
        sock.sendall(_head_with(60_000))
        status, _, _ = read_response(sock)
        assert status == 200
        # A body far over the header limit, sent in the same writes as the head: not a head.
        body = json.dumps(RequestBuilder().prompt("x" * 300_000).size(16, 16).build()).encode()
        sock.sendall(generate_head(len(body)) + body)
        status, _, answer = read_response(sock)
        assert status == 400 and "prompt" in json.loads(answer)["message"]
        # The connection still serves the next request.
        sock.sendall(_head_with(10))
        assert read_response(sock)[0] == 200
