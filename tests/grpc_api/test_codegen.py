"""The checked-in protobuf modules are exactly what grpcio-tools makes from the .proto files."""

from __future__ import annotations

from pathlib import Path

from tests.grpc_api.codegen import PROTO_DIR, generate, generated_names


def test_checked_in_modules_match_a_fresh_generation(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    assert sorted(fresh) == sorted(generated_names())
    stale = [name for name, data in fresh.items() if (PROTO_DIR / name).read_bytes() != data]
    assert not stale, f"regenerate with `python -m tests.grpc_api.codegen`: {stale} differ from the .proto files"

