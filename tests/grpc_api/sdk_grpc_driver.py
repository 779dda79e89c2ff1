"""Drives stability-sdk 0.8.6's StabilityInference and api.Context (unmodified) against a server.

Runs under the sdk venv's Python, as a subprocess. stdin: one JSON object
``{"host", "key", "engine", "calls": [{"name", "prompt", "kwargs", "init_png", "mask_png"}]}``
(PNG bytes in base64; kwargs are generate()'s, ``sampler`` by enum name; ``"api": "context"``
runs the call through api.Context instead). stdout: one JSON
line per call, ``{"name", "artifacts": [{"type", "mime", "seed", "index", "finish_reason",
"binary"}]}`` or ``{"name", "error": {"code", "details"}}``.
"""

from __future__ import annotations

import base64
import io
import json
import sys

import grpc
from PIL import Image
from stability_sdk.api import Context
from stability_sdk.client import StabilityInference
from stability_sdk.interfaces.gooseai.generation import generation_pb2 as generation


def _image(data: str | None) -> Image.Image | None:
    return Image.open(io.BytesIO(base64.b64decode(data))) if data else None


def run_call(client: StabilityInference, call: dict) -> dict:
    kwargs = dict(call.get("kwargs", {}))
    if "sampler" in kwargs:
        kwargs["sampler"] = generation.DiffusionSampler.Value(kwargs["sampler"])
    artifacts = []
    try:
        for answer in client.generate(
            call["prompt"], init_image=_image(call.get("init_png")), mask_image=_image(call.get("mask_png")), **kwargs
        ):
            for artifact in answer.artifacts:
                artifacts.append({
                    "type": generation.ArtifactType.Name(artifact.type),
                    "mime": artifact.mime,
                    "seed": artifact.seed,
                    "index": artifact.index,
                    "finish_reason": generation.FinishReason.Name(artifact.finish_reason),
                    "binary": base64.b64encode(artifact.binary).decode(),
                })
    except grpc.RpcError as error:
        return {"name": call["name"], "error": {"code": error.code().name, "details": error.details()}}
    return {"name": call["name"], "artifacts": artifacts}


def run_context_call(context: Context, call: dict) -> dict:
    """The SDK's higher-level api.Context (Generate, with its own retries turned off)."""
    try:
        results = context.generate([call["prompt"]], [1.0], **call.get("kwargs", {}))
    except grpc.RpcError as error:
        return {"name": call["name"], "error": {"code": error.code().name, "details": error.details()}}
    images = results.get(generation.ARTIFACT_IMAGE, [])
    return {"name": call["name"], "artifacts": [
        {"type": "ARTIFACT_IMAGE", "size": list(image.size), "mode": image.mode} for image in images]}


def main() -> None:
    job = json.load(sys.stdin)
    client = StabilityInference(host=job["host"], key=job["key"], engine=job["engine"], wait_for_ready=False)
    context = Context(host=job["host"], api_key=job["key"], generate_engine_id=job["engine"])
    context._max_retries = 0  # an error is the answer under test, not something to retry
    for call in job["calls"]:
        run = run_context_call if call.get("api") == "context" else run_call
        print(json.dumps(run(context if run is run_context_call else client, call)), flush=True)


if __name__ == "__main__":
    main()
