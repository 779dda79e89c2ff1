"""Native gRPC on an API replica of the Valkey backbone: the engines run in a worker process."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
from google.protobuf import json_format

from sfumato.proto import generation_pb2_grpc
from tests.backbone.conftest import Cluster, Valkey

from .conftest import decode, text_request


def test_generate_and_async_over_grpc_on_a_replica(tmp_path: Path) -> None:
    valkey = Valkey(tmp_path)
    valkey.start()
    cluster = Cluster(tmp_path, valkey)
    try:
        replica = cluster.replica()
        cluster.worker()
        cluster.wait_ready(replica)
        request = text_request(samples=2, seeds=(5, 6))
        with grpc.insecure_channel(replica.grpc_target) as channel:
            stub = generation_pb2_grpc.GenerationServiceStub(channel)
            over_grpc = {answer.artifacts[0].seed: answer.artifacts[0].binary
                         for answer in stub.Generate(request, timeout=60)}
            assert sorted(over_grpc) == [5, 6] and decode(over_grpc[5]).size == (64, 64)
            over_json = replica.generate(json_format.MessageToDict(request))
            assert {a["artifacts"][0]["seed"] for a in over_json} == {5, 6}

            handle = stub.AsyncGenerate(text_request(seeds=(8,)), timeout=30)
            seeds, deadline = [], time.monotonic() + 60
            while True:
                result = stub.AsyncResult(handle, timeout=30)
                seeds += [artifact.seed for answer in result.answer for artifact in answer.artifacts]
                if result.complete:
                    break
                assert time.monotonic() < deadline
            assert seeds == [8] and result.status.code == 0
    finally:
        cluster.close()
