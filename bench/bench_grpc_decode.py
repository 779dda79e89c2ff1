"""Decoding a Request that carries a 4 MiB init image: protobuf binary vs the JSON codec vs json_format.

    python bench/bench_grpc_decode.py [--repeats N]

All in one process, medians of N runs each, ratios against the JSON codec (what the
/grpcgateway routes use), the named peer:
  * ``protobuf``      - ``Request.FromString`` on the binary message (what grpcio hands us) and
                        the conversion to the wire Structs (the whole gRPC edge);
  * ``json codec``    - ``sfumato.wire_codec.decode_message`` on the proto3 JSON body;
  * ``json_format``   - ``google.protobuf.json_format.Parse`` of the same JSON into the protobuf
                        class (what a protobuf-based JSON gateway would do), no conversion.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from google.protobuf import json_format  # noqa: E402

from sfumato import wire  # noqa: E402
from sfumato.api.grpc.convert import to_wire  # noqa: E402
from sfumato.proto import generation_pb2  # noqa: E402
from sfumato.wire_codec import decode_message  # noqa: E402

MIB = 2**20


def image_bytes(size: int) -> bytes:
    period = bytes((i * 31 + 3) % 256 for i in range(256))  # every byte value: base64 has + and /
    return (period * (size // 256 + 1))[:size]


def build_request() -> generation_pb2.Request:
    request = generation_pb2.Request(engine_id="sd", request_id="bench")
    request.prompt.add().text = "a lighthouse"
    artifact = request.prompt.add().artifact
    artifact.type, artifact.mime, artifact.binary = generation_pb2.ARTIFACT_IMAGE, "image/png", image_bytes(4 * MIB)
    request.image.height, request.image.width = 1024, 1024
    request.image.seed.append(42)
    request.image.parameters.add().sampler.cfg_scale = 7.0
    return request


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    request = build_request()
    binary = request.SerializeToString()
    json_body = json_format.MessageToJson(request).encode()
    # Every path must produce the same request.
    expected = decode_message(json_body, wire.Request)
    assert to_wire(generation_pb2.Request.FromString(binary), wire.Request) == expected

    runs = {
        "json codec (peer)": lambda: decode_message(json_body, wire.Request),
        "protobuf parse": lambda: generation_pb2.Request.FromString(binary),
        "protobuf parse + to_wire": lambda: to_wire(generation_pb2.Request.FromString(binary), wire.Request),
        "json_format.Parse": lambda: json_format.Parse(json_body, generation_pb2.Request()),
    }
    results = {name: median_seconds(action, args.repeats) for name, action in runs.items()}
    peer = results["json codec (peer)"]
    print(f"Request with a 4 MiB init image: {len(binary)} bytes binary, {len(json_body)} bytes JSON; "
          f"median of {args.repeats}")
    for name, seconds in results.items():
        print(f"  {name:28s} {seconds * 1e3:9.3f} ms   {seconds / peer:6.2f}x the JSON codec")


if __name__ == "__main__":
    main()
