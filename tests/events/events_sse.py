"""A minimal Server-Sent Events reader for the tests (the format is small; the parser is the spec's)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Event:
    id: int
    name: str
    data: dict[str, Any]


@dataclass
class Received:
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status: int = 0
    content_type: str = ""
    body: str = ""

    def names(self) -> list[str]:
        return [event.name for event in self.events]

    def named(self, name: str) -> list[Event]:
        return [event for event in self.events if event.name == name]


def parse(lines: list[str]) -> tuple[list[Event], list[str]]:
    events, comments = [], []
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                events.append(Event(int(fields.get("id", "0")), fields.get("event", "message"), json.loads(fields["data"])))
            fields = {}
        elif line.startswith(":"):
            comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
    return events, comments


def read_events(
    base_url: str,
    job_id: str,
    *,
    api_key: str | None = None,
    last_event_id: int | None = None,
    previews: bool = False,
    limit: float = 60.0,
    stop_after: int | None = None,
) -> Received:
    """Read ``GET /jobs/{id}/events`` until the stream closes (or ``stop_after`` events)."""
    headers = {"Accept": "text/event-stream"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    params = {"previews": "1"} if previews else {}
    received = Received()
    deadline = time.monotonic() + limit
    with httpx.Client(base_url=base_url, timeout=limit) as client:
        with client.stream("GET", f"/jobs/{job_id}/events", headers=headers, params=params) as response:
            received.status = response.status_code
            received.content_type = response.headers.get("content-type", "")
            if response.status_code != 200:
                received.body = response.read().decode()
                return received
            lines: list[str] = []
            for line in response.iter_lines():
                lines.append(line)
                if line == "":
                    received.events, received.comments = parse(lines)
                    if stop_after is not None and len(received.events) >= stop_after:
                        break
                if time.monotonic() > deadline:
                    raise AssertionError(f"events did not end within {limit}s: {lines[-10:]}")
            received.events, received.comments = parse(lines + [""])
    return received
