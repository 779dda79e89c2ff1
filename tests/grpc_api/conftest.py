"""Servers and clients for the binary-dialect tests: a real ``sfumato serve`` process each."""

from __future__ import annotations

import io
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from PIL import Image

from sfumato.proto import generation_pb2, generation_pb2_grpc
from sfumato.testing import RunningServer, start_server

BINARY_CONFIG = """
[server]
default_engine = "test-pattern"
cors_origins = ["http://app.example"]

[jobs]
async_retention_seconds = 600

[quotas]
# The suite sends many requests from one address; quotas have their own tests.
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[limits]
max_input_pixels = 4194304
max_input_side = 4096

[[engines]]
id = "test-pattern"
kind = "test-pattern"
max_batch_size = 4
[engines.limits]
max_width = 1024
max_height = 1024
max_pixels = 1048576
max_samples = 8

[[engines]]
id = "slow-pattern"
kind = "test-pattern"
max_batch_size = 1
default_steps = 20
"""


@pytest.fixture(scope="session")
def binary_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("grpc-server"), config=BINARY_CONFIG, plugins=["test_pattern"])
    yield running
    running.stop()


@pytest.fixture(scope="session")
def channel(binary_server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(
        binary_server.grpc_target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as opened:
        yield opened


@pytest.fixture(scope="session")
def generation(channel: grpc.Channel) -> generation_pb2_grpc.GenerationServiceStub:
    return generation_pb2_grpc.GenerationServiceStub(channel)


def png(width: int, height: int, seed: int = 0, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(buffer, "PNG")
    return buffer.getvalue()


def text_request(prompt: str = "a lighthouse", *, engine: str = "test-pattern", size: int = 64, seeds: tuple[int, ...] = (7,),
                 samples: int = 1, steps: int = 4) -> generation_pb2.Request:
    request = generation_pb2.Request(engine_id=engine, prompt=[generation_pb2.Prompt(text=prompt)])
    image = request.image
    image.width = image.height = size
    image.seed.extend(seeds)
    image.samples, image.steps = samples, steps
    return request


def decode(png_bytes: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png_bytes))
    image.load()
    return image


class WebChannel:
    """sonora's gRPC-web channel, taking the ``_registered_method`` keyword that stubs from
    current grpcio-tools pass (sonora 0.2.3 predates it)."""

    def __init__(self, url: str) -> None:
        import sonora.client

        self.inner = sonora.client.insecure_web_channel(url)

    def unary_unary(self, path: str, request_serializer=None, response_deserializer=None, _registered_method=False):
        return self.inner.unary_unary(path, request_serializer, response_deserializer)

    def unary_stream(self, path: str, request_serializer=None, response_deserializer=None, _registered_method=False):
        return self.inner.unary_stream(path, request_serializer, response_deserializer)

    def __enter__(self) -> WebChannel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.inner.__exit__(*exc_info)
