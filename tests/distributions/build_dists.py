"""Build every distribution of this repository into one folder (what `make dist` runs).

    python tests/distributions/build_dists.py [OUT_DIR]          # default: dist/

- sfumato: one abi3 wheel (CPython >= 3.11) checked against a manylinux policy by
  maturin (MANYLINUX below), and the sdist. The wheel is built like the dev build
  (`maturin develop --release`: same profile, features, interpreter and
  CARGO_TARGET_DIR), so cargo reuses its artifacts instead of compiling from scratch.
- every plugin under plugins/ and docs/example-plugin: an sdist, and a pure-Python
  wheel built from that sdist (which proves the sdist is complete).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The glibc policy maturin checks the wheel against and tags it with. Linked on Debian 12
# (glibc 2.36), the extension needs symbols up to GLIBC_2.34: glibc >= 2.34 (Debian 12+,
# Ubuntu 22.04+, RHEL 9+). Built in a manylinux_2_28 container, set SFUMATO_MANYLINUX to
# manylinux_2_28 for older systems.
MANYLINUX = os.environ.get("SFUMATO_MANYLINUX", "manylinux_2_34")
DEV_TARGET_DIR = Path.home() / ".cache" / "sfumato" / "target"


def plugin_dirs() -> list[Path]:
    plugins = sorted(path.parent for path in (REPO / "plugins").glob("*/pyproject.toml"))
    return [*plugins, REPO / "docs" / "example-plugin"]


def tool(name: str) -> str:
    """A build tool from this interpreter's environment (the dev venv), else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: run `make setup` (it is in sfumato's test extra)")
    return found


def run(command: list[str], **kwargs: object) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]


def check_portable(env: dict[str, str]) -> None:
    """A wheel runs on any x86-64: the kernels choose AVX2/AVX-512 at run time, never at build time."""
    for name in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS"):
        if "target-cpu" in env.get(name, "") or "target-feature" in env.get(name, ""):
            raise SystemExit(f"{name}={env[name]!r} would make a wheel only some CPUs can run: unset it")
    for config in (REPO / ".cargo").glob("config*"):
        if "target-cpu" in config.read_text():
            raise SystemExit(f"{config} sets target-cpu: a wheel built with it runs only on some CPUs")


def build_sfumato(out: Path) -> None:
    env = dict(os.environ)
    check_portable(env)
    env.setdefault("CARGO_TARGET_DIR", str(DEV_TARGET_DIR))
    maturin = tool("maturin")
    run([maturin, "build", "--release", "--compatibility", MANYLINUX, "--interpreter", sys.executable,
         "--out", str(out)], cwd=REPO, env=env)
    run([maturin, "sdist", "--out", str(out)], cwd=REPO, env=env)


def build_plugin(directory: Path, out: Path) -> None:
    # uv builds the sdist, then the wheel from it, each in an isolated build environment.
    run([tool("uv"), "build", "--quiet", "--out-dir", str(out), str(directory)])


def build_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    build_sfumato(out)
    for directory in plugin_dirs():
        build_plugin(directory, out)
    return sorted(out.iterdir())


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else REPO / "dist"
    for path in build_all(out.resolve()):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
