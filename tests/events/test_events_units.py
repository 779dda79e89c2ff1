"""In-process checks of the event log, the directory, the settings and the signature (no server)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import numpy as np
import pytest

from sfumato.config import ConfigError, load_settings
from sfumato.jobs.events import MAX_PREVIEWS_PER_JOB, JobDirectory, JobEvents, PreviewSettings, superseded_steps_dropped
from sfumato.webhooks.signing import sign, verify


def test_nothing_follows_the_terminal_event_and_previews_are_dropped_at_the_end():
    events = JobEvents(None)
    events.emit("started", {})
    for step in range(MAX_PREVIEWS_PER_JOB + 3):
        events.add_preview(step, 0, np.zeros((8, 8, 3), np.uint8), 4)
    assert len([e for e in events.after(0) if e.name == "preview"]) == MAX_PREVIEWS_PER_JOB
    done = events.emit("done", {})
    assert events.emit("step", {"step": 1}) is done
    assert [e.name for e in events.after(0)] == ["started", "done"]
    assert events.after(done.id) == [] and events.ended_at is not None


def test_follow_yields_batches_and_stops_at_the_end():
    async def scenario() -> list[list[str]]:
        events = JobEvents(asyncio.get_running_loop())
        events.emit("queued", {"position": 0})
        seen: list[list[str]] = []

        async def listen() -> None:
            async for batch in events.follow(0, heartbeat=0.05, pace=0.05):
                seen.append([e.name for e in batch])

        task = asyncio.ensure_future(listen())
        await asyncio.sleep(0.12)  # quiet: heartbeats (empty batches)
        for step in (1, 2, 3):
            events.emit("step", {"step": step})
        events.emit("done", {})
        await asyncio.wait_for(task, 2)
        assert events.listeners == 0
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == ["queued"] and [] in seen
    assert seen[-1][-1] == "done" and seen[-1].count("step") <= 1  # superseded steps left out


def test_superseded_steps_keep_the_latest_and_everything_else():
    from sfumato.jobs.events import JobEvent

    batch = [JobEvent(1, "step", {}), JobEvent(2, "answer", {}), JobEvent(3, "step", {}), JobEvent(4, "done", {})]
    assert [e.id for e in superseded_steps_dropped(batch)] == [2, 3, 4]


def test_preview_throttle_counts_steps_and_time():
    events = JobEvents(None)
    every_other = PreviewSettings(every_steps=2, min_interval_ms=0)
    assert not events.wants_preview(1, every_other), "nobody listens"
    events.preview_listeners = 1
    assert [events.wants_preview(step, every_other) for step in range(1, 7)] == [True, False, True, False, True, False]
    slow = PreviewSettings(every_steps=1, min_interval_ms=60_000)
    fresh = JobEvents(None)
    fresh.preview_listeners = 1
    assert [fresh.wants_preview(step, slow) for step in (1, 2, 3)] == [True, False, False]


def test_the_directory_is_per_client_and_bounded():
    directory = JobDirectory(retention_seconds=600, max_jobs=2)
    first, second, third = JobEvents(None), JobEvents(None), JobEvents(None)
    directory.add("a", "job-1", first)
    assert directory.get("a", "job-1") is first and directory.get("b", "job-1") is None
    directory.add("a", "job-2", second)
    directory.add("a", "job-3", third)
    assert directory.get("a", "job-1") is None and directory.get("a", "job-3") is third


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    header = sign("s3cret", b'{"a":1}', timestamp=1_700_000_000)
    expected = hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify("s3cret", b'{"a":1}', header, now=1_700_000_100)
    assert not verify("s3cret", b'{"a":1}', header, now=1_700_001_000), "too old"
    assert not verify("s3cret", b'{"a":1}', "t=x,v1=00")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[webhooks]\nallow = ['https://x/*']\n", "webhooks.secret is empty"),
        ("[events]\nheartbeat_seconds = 0\n", "events.heartbeat_seconds must be greater than 0"),
        ("[events]\nsend_interval_ms = -1\n", "events.send_interval_ms"),
        ("[events]\npreview_max_side = 0\n", "events.preview_max_side"),
        ("[events]\nunknown = 1\n", "unknown"),
    ],
)
def test_bad_event_and_webhook_settings_stop_the_server(tmp_path, toml, message):
    path = tmp_path / "sfumato.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings(path, environ={})


def test_defaults_and_the_secret_from_the_environment(tmp_path):
    path = tmp_path / "sfumato.toml"
    path.write_text("[webhooks]\nallow = ['https://hooks.example.com/*']\n")
    settings = load_settings(path, environ={"SFUMATO_WEBHOOK_SECRET": "from-env"})
    assert settings.webhooks.secret == "from-env"
    assert settings.events.heartbeat_seconds == 15 and settings.events.send_interval_ms == 250
