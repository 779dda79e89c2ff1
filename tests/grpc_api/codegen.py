"""Generates the Python modules of host/sfumato/proto/*.proto with grpcio-tools.

    python -m tests.grpc_api.codegen     # rewrite the checked-in modules

test_codegen.py checks that the checked-in modules are exactly what this produces.
"""

from __future__ import annotations

import importlib.resources
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOT = ROOT / "host"
PROTO_DIR = SOURCE_ROOT / "sfumato" / "proto"
PROTOS = ("tensors.proto", "generation.proto", "engines.proto", "dashboard.proto")


def generated_names() -> list[str]:
    names = []
    for proto in PROTOS:
        stem = proto.removesuffix(".proto")
        names += [f"{stem}_pb2.py", f"{stem}_pb2.pyi", f"{stem}_pb2_grpc.py"]
    return names


def generate(out_dir: Path) -> dict[str, bytes]:
    """Run protoc into ``out_dir``; the generated files by name."""
    from grpc_tools import protoc

    include = str(importlib.resources.files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{SOURCE_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(f"sfumato/proto/{proto}" for proto in PROTOS),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    produced = out_dir / "sfumato" / "proto"
    return {name: (produced / name).read_bytes() for name in generated_names()}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in generate(Path(tmp)).items():
            (PROTO_DIR / name).write_bytes(data)
    print(f"wrote {len(generated_names())} modules to {PROTO_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
