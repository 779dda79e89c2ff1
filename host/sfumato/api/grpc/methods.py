"""The gRPC methods, independent of transport: raw request bytes in, protobuf answers out.

Each method decodes its own request (so a malformed message is INVALID_ARGUMENT, not
the transport's INTERNAL) and raises :class:`sfumato.errors.RpcError` with the same
codes and messages as the JSON routes. Native gRPC (:mod:`.server`) and gRPC-web
(:mod:`.web`) map those errors to a status, and cancel a call's job by cancelling the
task that runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage

from sfumato import wire
from sfumato.api.answers import answer_for
from sfumato.api.engines import list_engines
from sfumato.api.grpc.convert import to_proto, to_wire
from sfumato.api.services import Services
from sfumato.errors import Code, RpcError
from sfumato.jobs.cancel import CancelToken
from sfumato.jobs.state import ImageResult, JobState
from sfumato.proto import dashboard_pb2, engines_pb2, generation_pb2
from sfumato.wire_codec import WireError

LOCAL_USER_ID = "local"


@dataclass(frozen=True)
class Method:
    """One RPC: its path, request type, and the coroutine (or async generator) that runs it."""

    path: str
    request_type: type[ProtoMessage]
    response_type: type[ProtoMessage]
    streaming: bool
    run: Callable[[ProtoMessage, str], Any]  # (request, client) -> awaitable or async iterator

    def decode(self, data: bytes) -> ProtoMessage:
        try:
            return self.request_type.FromString(data)
        except DecodeError as error:
            raise RpcError(
                Code.INVALID_ARGUMENT,
                f"the request is not a valid {self.request_type.DESCRIPTOR.full_name} protobuf message: {error}",
            ) from None


class GenerationMethods:
    """GenerationService, EnginesService and DashboardService.GetMe over the job core."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.samplers = services.plugins.sampler_numbers()
        self.sampler_numbers = {name: number for number, name in self.samplers.items()}

    def table(self) -> dict[str, Method]:
        gen, engines, dashboard = generation_pb2, engines_pb2, dashboard_pb2
        methods = [
            Method("/gooseai.GenerationService/Generate", gen.Request, gen.Answer, True, self.generate),
            Method("/gooseai.GenerationService/ChainGenerate", gen.ChainRequest, gen.Answer, True, self.chain_generate),
            Method("/gooseai.GenerationService/AsyncGenerate", gen.Request, gen.AsyncHandle, False, self.async_generate),
            Method("/gooseai.GenerationService/AsyncResult", gen.AsyncHandle, gen.AsyncAnswer, False, self.async_result),
            Method("/gooseai.GenerationService/AsyncCancel", gen.AsyncHandle, gen.AsyncCancelAnswer, False,
                   self.async_cancel),
            Method("/gooseai.EnginesService/ListEngines", engines.ListEnginesRequest, engines.Engines, False,
                   self.list_engines),
            Method("/gooseai.DashboardService/GetMe", dashboard.EmptyRequest, dashboard.User, False, self.get_me),
        ]
        return {method.path: method for method in methods}

    # ---- conversions ----
    def _wire(self, message: ProtoMessage, type_: type[Any]) -> Any:
        try:
            return to_wire(message, type_, samplers=self.samplers)
        except WireError as error:
            raise RpcError(Code.INVALID_ARGUMENT, str(error)) from None

    def _answer(self, state: JobState, result: ImageResult) -> generation_pb2.Answer:
        return to_proto(answer_for(state, result), generation_pb2.Answer, sampler_numbers=self.sampler_numbers)

    # ---- GenerationService ----
    async def generate(self, message: generation_pb2.Request, client: str) -> AsyncIterator[generation_pb2.Answer]:
        request = self._wire(message, wire.Request)
        cancel = CancelToken()
        try:
            state = await self.services.accept(request, client=client, cancel=cancel)
        except asyncio.CancelledError:  # the call ended while images were prepared
            cancel.cancel("the client cancelled the call")
            raise
        finished = False
        try:
            async for result in state.stream():
                yield self._answer(state, result)
            finished = True
        finally:
            if not finished and not state.done:  # cancelled, disconnected, or the stream was dropped
                self.services.scheduler.cancel(state, "the client cancelled the call")

    async def chain_generate(self, chain: generation_pb2.ChainRequest, client: str) -> AsyncIterator[generation_pb2.Answer]:
        if not chain.stage:
            raise RpcError(Code.INVALID_ARGUMENT, "stage: a ChainRequest needs one stage")
        if len(chain.stage) > 1:
            raise RpcError(
                Code.UNIMPLEMENTED,
                f"ChainGenerate runs single-stage chains; this one has {len(chain.stage)} stages "
                "(run each stage as its own Generate call)",
            )
        request = chain.stage[0].request
        if not request.request_id and chain.request_id:
            request.request_id = chain.request_id
        async for answer in self.generate(request, client):
            yield answer

    async def async_generate(self, message: generation_pb2.Request, client: str) -> generation_pb2.AsyncHandle:
        request = self._wire(message, wire.Request)
        store = self.services.async_store
        store.check_capacity()
        state = await self.services.accept(request, client=client)
        return generation_pb2.AsyncHandle(request_id=state.job.request_id, async_handle=store.add(state))

    async def async_result(self, message: generation_pb2.AsyncHandle, client: str) -> generation_pb2.AsyncAnswer:
        taken = await self.services.async_store.take(_require_handle(message))
        answers = [answer_for(taken.state, result) for result in taken.results]
        status = wire.AsyncStatus(code=int(taken.code), message=taken.message) if taken.complete else None
        answer = wire.AsyncAnswer(answer=answers, complete=taken.complete, status=status)
        return to_proto(answer, generation_pb2.AsyncAnswer, sampler_numbers=self.sampler_numbers)

    async def async_cancel(self, message: generation_pb2.AsyncHandle, client: str) -> generation_pb2.AsyncCancelAnswer:
        await self.services.async_store.cancel(_require_handle(message))
        return generation_pb2.AsyncCancelAnswer()

    # ---- EnginesService, DashboardService ----
    async def list_engines(self, message: engines_pb2.ListEnginesRequest, client: str) -> engines_pb2.Engines:
        return to_proto(list_engines(self.services), engines_pb2.Engines, sampler_numbers=self.sampler_numbers)

    async def get_me(self, message: dashboard_pb2.EmptyRequest, client: str) -> dashboard_pb2.User:
        # A self-hosted server has one local user; front ends only need an id to show.
        organization = dashboard_pb2.Organization(id=LOCAL_USER_ID, name="sfumato", description="this server")
        member = dashboard_pb2.OrganizationMember(
            organization=organization, role=dashboard_pb2.OrganizationRole.OWNER, is_default=True
        )
        return dashboard_pb2.User(id=LOCAL_USER_ID, organizations=[member])


def _require_handle(handle: generation_pb2.AsyncHandle) -> str:
    if not handle.async_handle:
        raise RpcError(Code.INVALID_ARGUMENT, "asyncHandle: required (the value AsyncGenerate returned)")
    return handle.async_handle

