"""Wire codec speed against google.protobuf.json_format on the stability-sdk classes.

    PYTHONPATH=host python bench/bench_wire.py [--repeats N]

Times (best of N per round, rounds alternating the two sides, medians over rounds):
  * decoding a Request carrying a 4 MiB init image (base64 in JSON) into our Structs
    vs ``json_format.Parse`` into the SDK's ``Request``;
  * encoding an Answer with a 1 MiB PNG vs ``json_format.MessageToJson``.
The SDK side runs in its own venv (``SFUMATO_SDK_PYTHON``, default
~/.cache/sfumato/sdk-venv/bin/python) through tests/wire/sdk_reference.py.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sfumato.wire import Answer, Artifact, ArtifactType, Request
from sfumato.wire_codec import decode_message, encode_message

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "wire" / "sdk_reference.py"
MIB = 2**20


def image_bytes(size: int, salt: int) -> bytes:
    # Same content as sdk_reference._image_bytes, built faster.
    period = bytes((i * 31 + salt) % 256 for i in range(256))
    return (period * (size // 256 + 1))[:size]


def best_of(action, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def request_body() -> bytes:
    binary = base64.b64encode(image_bytes(4 * MIB, 3)).decode()
    return json.dumps({
        "engineId": "sd", "requestId": "bench",
        "prompt": [{"text": "a lighthouse"},
                   {"artifact": {"type": "ARTIFACT_IMAGE", "mime": "image/png", "binary": binary}}],
        "image": {"height": "1024", "width": "1024", "seed": [42]},
    }).encode()


def sdk_timings(repeats: int) -> dict:
    python = os.path.expanduser(os.environ.get("SFUMATO_SDK_PYTHON", "~/.cache/sfumato/sdk-venv/bin/python"))
    if not Path(python).exists():
        sys.exit(f"{python} not found: run `make sdk-venv`")
    output = subprocess.run([python, str(REFERENCE), "bench", str(repeats), "1"], capture_output=True,
                            text=True, check=True).stdout
    return json.loads(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    repeats, rounds = arguments.repeats, arguments.rounds

    body = request_body()
    lenient_body = body.replace(b'"engineId"', b'"engine_id"')  # forces the fallback walker
    png = image_bytes(MIB, 5)
    answer = Answer(answer_id="a-0", request_id="bench", received=1, created=2, artifacts=[
        Artifact(id=1, type=ArtifactType.ARTIFACT_IMAGE, mime="image/png", binary=png, seed=42,
                 uuid="u", size=len(png))])
    assert len(decode_message(body, Request).prompt[1].artifact.binary) == 4 * MIB

    # Rounds alternate the two sides, so load from other processes hits both alike; each
    # round's ratio compares bests taken seconds apart, and the median of the ratios is reported.
    cases = {
        "decode Request, 4 MiB image (canonical)": (lambda: decode_message(body, Request), "parse_request_s"),
        "decode Request, 4 MiB image (snake_case)": (lambda: decode_message(lenient_body, Request), "parse_request_s"),
        "encode Answer, 1 MiB PNG": (lambda: encode_message(answer), "answer_to_json_s"),
    }
    mine: dict[str, list[float]] = {name: [] for name in cases}
    theirs: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (action, _) in cases.items():
            mine[name].append(best_of(action, repeats))
        sdk = sdk_timings(repeats)
        for name, (_, key) in cases.items():
            theirs[name].append(sdk[key])
    print(f"{'case':44} {'sfumato ms':>11} {'json_format ms':>15} {'ratio (median, min–max of rounds)':>36}")
    for name in cases:
        ratios = [b / a for a, b in zip(mine[name], theirs[name])]
        print(f"{name:44} {statistics.median(mine[name]) * 1e3:11.2f} {statistics.median(theirs[name]) * 1e3:15.2f} "
              f"{statistics.median(ratios):8.1f}x ({min(ratios):.1f}–{max(ratios):.1f}, {rounds} rounds)")


if __name__ == "__main__":
    main()
