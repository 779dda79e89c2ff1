"""``GET /jobs/{id}/events``: a job's progress as Server-Sent Events (docs/api.md, "Progress events")."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter, SkipValidation
from litestar.response import Stream

from sfumato.api.auth import client_of
from sfumato.api.openapi import API_KEY_REQUIRED, RpcOperation, error_responses
from sfumato.api.services import Services
from sfumato.errors import Code, RpcError, invalid
from sfumato.jobs.events import JobEvent, Listeners

EVENT_STREAM = "text/event-stream"
HEARTBEAT = b": ping\n\n"


def sse_frame(event: JobEvent) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.name.encode(), event.json())


def _last_event_id(request: Request) -> int:
    text = request.headers.get("last-event-id", "").strip()
    if not text:
        return 0
    if not text.isdigit() or len(text) > 18:
        raise invalid(f"Last-Event-ID: {text[:40]!r} is not an event id (a non-negative integer from an 'id:' line)")
    return int(text)


def _not_found(job_id: str) -> RpcError:
    return RpcError(
        Code.NOT_FOUND,
        f"id: no job {job_id[:80]!r} of yours (an asyncHandle or requestId you submitted; finished jobs are kept "
        "events.retention_seconds)",
    )


class EventsController(Controller):
    path = "/jobs"
    tags = ["Events"]
    security = API_KEY_REQUIRED

    @get(
        "/{job_id:str}/events",
        summary="Job events",
        description="Server-Sent Events of a job you submitted: queued, started, step, preview (with ?previews=1), "
        "answer, then done or error. Resume with the Last-Event-ID header; a finished job replays its events. "
        "See docs/api.md.",
        responses={
            200: ResponseSpec(data_container=str, media_type=EVENT_STREAM, description="text/event-stream"),
            **error_responses(400, 401, 404, 429),
        },
        operation_class=RpcOperation,
    )
    async def events(
        self,
        request: Request,
        services: NamedDependency[SkipValidation[Services]],
        job_id: str = Parameter(description="An asyncHandle from AsyncGenerate, or a requestId you submitted"),
        previews: int = Parameter(default=0, ge=0, le=1, description="1: also send preview events"),
    ) -> Stream:
        client = client_of(request.scope)
        after = _last_event_id(request)
        heartbeat = services.settings.events.heartbeat_seconds
        pace = services.settings.events.send_interval_ms / 1000.0
        listeners: Listeners = services.event_listeners
        if services.settings.queue.url:
            reader = services.scheduler.event_reader
            found = await reader.find(client, job_id)
            if found is None:
                raise _not_found(job_id)
            source = reader.follow(found, after, previews=bool(previews), heartbeat=heartbeat, pace=pace)
        else:
            events = services.directory.get(client, job_id)
            if events is None:
                raise _not_found(job_id)
            source = events.follow(after, previews=bool(previews), heartbeat=heartbeat, pace=pace)
        listeners.admit()

        async def frames() -> AsyncIterator[bytes]:
            try:
                yield HEARTBEAT  # headers and a first byte at once, so clients know they are connected
                async for batch in source:
                    yield b"".join(sse_frame(event) for event in batch) if batch else HEARTBEAT
            finally:
                listeners.open -= 1
                await source.aclose()  # type: ignore[attr-defined]

        return Stream(
            frames(),
            media_type=EVENT_STREAM,
            status_code=200,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
