"""GenerationService over HTTP: Generate (NDJSON stream) and the Async* RPCs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, SkipValidation
from litestar.response import Stream

from sfumato import wire
from sfumato.api.answers import answer_for, answer_line
from sfumato.api.auth import client_of
from sfumato.api.disconnect import unless_disconnected
from sfumato.api.errors import status_body
from sfumato.api.openapi import API_KEY_REQUIRED, GENERATE_STREAM, RpcOperation, error_responses
from sfumato.api.services import Services
from sfumato.api.wire_body import WireBody
from sfumato.errors import Code, RpcError
from sfumato.jobs.cancel import CancelToken
from sfumato.jobs.state import JobState
from sfumato.wire_codec import encode_message

NDJSON = "application/x-ndjson"


def _json(message: Any) -> Response[bytes]:
    return Response(content=encode_message(message), media_type="application/json", status_code=200)


def _require_handle(handle: wire.AsyncHandle | None) -> str:
    if handle is None or not handle.async_handle:
        raise RpcError(Code.INVALID_ARGUMENT, "asyncHandle: required (the value AsyncGenerate returned)")
    return handle.async_handle


def _all_lines(state: JobState) -> bytes:
    """The whole NDJSON body of a job whose answers are all in, as the stream would have sent it."""
    body = b"".join(answer_line(state, result) for result in state.results)
    if state.code is not None and state.code != Code.OK:
        body += b'{"error":' + status_body(state.code, state.message) + b"}\n"
    return body


def _server_timing(state: JobState) -> dict[str, str]:
    """W3C Server-Timing: the time queued and in the engine, which browsers' dev tools show.
    Known only where the engine ran in this process (not for a job a backbone worker ran)."""
    timing = []
    if state.started_at is not None:
        timing.append(f"queue;dur={(state.started_at - state.enqueued_at) * 1000:.2f}")
    if state.engine_seconds:
        timing.append(f"engine;dur={state.engine_seconds * 1000:.2f}")
    return {"server-timing": ", ".join(timing)} if timing else {}


class GenerationController(Controller):
    path = "/grpcgateway"
    tags = ["GenerationService"]
    security = API_KEY_REQUIRED

    @post(
        "/generate",
        status_code=200,
        dto=WireBody[wire.Request],
        return_dto=None,
        summary="Generate",
        description='Runs a Request. Answers stream back as NDJSON lines `{"result": Answer}` as each image is '
        'ready; a failure after the first answer ends the stream with one `{"error": Status}` line, a failure '
        "before it is a plain google.rpc.Status error response.",
        responses={200: GENERATE_STREAM, **error_responses(400, 401, 404, 408, 429, 500, 501, 503)},
        operation_class=RpcOperation,
    )
    async def generate(self, request: Request, services: NamedDependency[SkipValidation[Services]], data: JSONBody[wire.Request | None] = None) -> Stream | Response[bytes]:
        client = client_of(request.scope)
        cancel = CancelToken()
        # Image work for a request whose client has gone stops at its next step.
        state = await unless_disconnected(
            request, services.accept(data, client=client, cancel=cancel), lambda: cancel.cancel("the client disconnected")
        )
        first = await unless_disconnected(
            request, anext(state.stream(), None), lambda: services.scheduler.cancel(state, "the client disconnected")
        )

        if first is not None and (state.done or len(state.results) >= state.job.samples):
            # Every answer is in (one image, or one batch): one plain response, no streaming machinery.
            return Response(content=_all_lines(state), media_type=NDJSON, status_code=200,
                            headers=_server_timing(state))

        async def lines() -> AsyncIterator[bytes]:
            finished = False
            try:
                if first is not None:
                    yield answer_line(state, first)
                    try:
                        async for result in state.stream():
                            if result.index != first.index:
                                yield answer_line(state, result)
                    except RpcError as exc:
                        yield b'{"error":' + status_body(exc.code, exc.message) + b"}\n"
                finished = True
            finally:
                if not finished and not state.done:  # the client went away mid-stream
                    services.scheduler.cancel(state, "the client disconnected")

        return Stream(lines(), media_type=NDJSON, status_code=200)

    @post("/asyncGenerate", status_code=200, dto=WireBody[wire.Request], return_dto=None, summary="AsyncGenerate",
          description="Validates the Request like Generate, queues it and returns a handle at once.",
          responses=error_responses(400, 401, 404, 408, 429, 500, 501, 503), operation_class=RpcOperation)
    async def async_generate(self, request: Request, services: NamedDependency[SkipValidation[Services]], data: JSONBody[wire.Request | None] = None) -> Response[wire.AsyncHandle]:
        services.async_store.check_capacity()
        state = await services.accept(data, client=client_of(request.scope))
        handle = services.async_store.add(state)
        return _json(wire.AsyncHandle(request_id=state.job.request_id, async_handle=handle))

    @post("/asyncResult", status_code=200, dto=WireBody[wire.AsyncHandle], return_dto=None, summary="AsyncResult",
          description="Returns the answers produced since the last call (each once), waiting up to "
          "jobs.async_poll_wait_seconds for one; `complete` with `status` once the job is done and drained.",
          responses=error_responses(400, 401, 404, 408, 429, 500, 503), operation_class=RpcOperation)
    async def async_result(self, services: NamedDependency[SkipValidation[Services]], data: JSONBody[wire.AsyncHandle | None] = None) -> Response[wire.AsyncAnswer]:
        taken = await services.async_store.take(_require_handle(data))
        answers = [answer_for(taken.state, result) for result in taken.results]
        status = wire.AsyncStatus(code=int(taken.code), message=taken.message) if taken.complete else None
        return _json(wire.AsyncAnswer(answer=answers, complete=taken.complete, status=status))

    @post("/asyncCancel", status_code=200, dto=WireBody[wire.AsyncHandle], return_dto=None, summary="AsyncCancel",
          description="Stops a queued job at once and a running one at its next step; undelivered answers are dropped.",
          responses=error_responses(400, 401, 404, 408, 429, 500, 503), operation_class=RpcOperation)
    async def async_cancel(self, services: NamedDependency[SkipValidation[Services]], data: JSONBody[wire.AsyncHandle | None] = None) -> Response[wire.AsyncCancelAnswer]:
        await services.async_store.cancel(_require_handle(data))
        return _json(wire.AsyncCancelAnswer())
