"""Independent proto3-JSON reference built on the stability-sdk's generated classes.

Runs only under the sdk venv's Python (old grpcio/protobuf pins), as a subprocess:

    sdk-python sdk_reference.py requests      # JSON lines: {"case", "variant", "json", "values"}
    sdk-python sdk_reference.py answers       # stdin: our Answer JSON lines -> parsed values
    sdk-python sdk_reference.py bytes         # stdin: {"case", "binary"} lines -> how bytes parse
    sdk-python sdk_reference.py bench N MiB   # json_format timings for bench/bench_wire.py

``values`` are read from the protobuf objects directly (not through json_format), in
the same shape that tests/wire/test_sdk_conformance.py extracts from our Structs.
"""

from __future__ import annotations

import base64
import json
import sys
import time

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from stability_sdk.interfaces.gooseai.generation import generation_pb2 as gen


def _image_bytes(size: int, salt: int) -> bytes:
    # Every byte value occurs, so the base64 text contains "+" and "/".
    return bytes((i * 31 + salt) % 256 for i in range(size))


def _text(text: str, weight: float | None = None) -> gen.Prompt:
    prompt = gen.Prompt(text=text)
    if weight is not None:
        prompt.parameters.weight = weight
    return prompt


def _artifact(kind: int, data: bytes, mime: str | None = None) -> gen.Prompt:
    artifact = gen.Artifact(type=kind, binary=data)
    if mime:
        artifact.mime = mime
    return gen.Prompt(artifact=artifact)


def build_requests() -> dict[str, gen.Request]:
    cases: dict[str, gen.Request] = {}

    request = gen.Request(engine_id="stable-diffusion-v1-5", request_id="rq-txt2img",
                          prompt=[_text("a lighthouse at dusk")])
    image = request.image
    image.height, image.width, image.samples, image.steps = 512, 768, 2, 30
    image.seed.append(1234)
    image.transform.diffusion = gen.SAMPLER_K_EULER_ANCESTRAL
    image.parameters.append(gen.StepParameter(scaled_step=0, sampler=gen.SamplerParameters(cfg_scale=7.0)))
    image.adapter.adapter_strength = 0.4  # StabilityInference always sends this
    extras = Struct()
    extras.update({"$IPC": {"preset": "photographic"}})
    request.extras.CopyFrom(extras)
    cases["text-to-image"] = request

    request = gen.Request(engine_id="sd-xl", request_id="rq-weights", prompt=[
        _text("a red fox", 1.0), _text("snowy forest", 0.5), _text("blurry, low quality", -1.0),
        _text("ignored", 0.0)])
    request.image.seed.extend([7, 8, 9])
    request.image.samples = 3
    request.image.transform.diffusion = gen.SAMPLER_K_DPMPP_2M
    request.image.parameters.append(gen.StepParameter(sampler=gen.SamplerParameters(
        cfg_scale=12.5, eta=0.0, init_noise_scale=1.0)))
    cases["weighted-and-negative"] = request

    request = gen.Request(engine_id="stable-inpainting-512-v2-0", request_id="rq-inpaint",
                          requested_type=gen.ARTIFACT_IMAGE, prompt=[
                              _text("a cat on a sofa"),
                              _artifact(gen.ARTIFACT_IMAGE, _image_bytes(3001, 1), "image/png"),
                              _artifact(gen.ARTIFACT_MASK, _image_bytes(1000, 2))])
    image = request.image
    image.height = image.width = 512
    image.seed.extend([1, 2, 4294967295])
    image.samples = 1
    image.masked_area_init = gen.MASKED_AREA_INIT_ORIGINAL
    image.parameters.append(gen.StepParameter(sampler=gen.SamplerParameters(cfg_scale=7.0),
                                              schedule=gen.ScheduleParameters(start=0.6, end=0.01)))
    cases["init-image-and-mask"] = request

    request = gen.Request(engine_id="sd", prompt=[_text("clip guided")])
    request.image.steps = 50
    request.image.transform.diffusion = gen.SAMPLER_DDIM  # zero: still printed (oneof member)
    instance = gen.GuidanceInstanceParameters(guidance_strength=0.25,
                                              models=[gen.Model(alias="ViT-L/14")],
                                              cutouts=gen.CutoutParameters(count=4))
    request.image.parameters.append(gen.StepParameter(guidance=gen.GuidanceParameters(
        guidance_preset=gen.GUIDANCE_PRESET_FAST_BLUE, instances=[instance])))
    cases["guidance-and-ddim"] = request
    return cases


VARIANTS = {
    "default": {"indent": None},
    "pretty": {},
    "proto-names-int-enums": {"indent": None, "preserving_proto_field_name": True,
                              "use_integers_for_enums": True},
}


def request_values(request: gen.Request) -> dict:
    prompts = []
    for prompt in request.prompt:
        kind = prompt.WhichOneof("prompt")
        entry: dict = {"kind": kind,
                       "weight": prompt.parameters.weight if prompt.parameters.HasField("weight") else None}
        if kind == "text":
            entry["text"] = prompt.text
        else:
            artifact = prompt.artifact
            entry.update(type=gen.ArtifactType.Name(artifact.type), mime=artifact.mime,
                         binary=base64.b64encode(artifact.binary).decode())
        prompts.append(entry)
    image = request.image
    steps = []
    for step in image.parameters:
        steps.append({
            "cfg_scale": step.sampler.cfg_scale if step.sampler.HasField("cfg_scale") else None,
            "eta": step.sampler.eta if step.sampler.HasField("eta") else None,
            "start": step.schedule.start if step.schedule.HasField("start") else None,
            "end": step.schedule.end if step.schedule.HasField("end") else None,
            "preset": gen.GuidancePreset.Name(step.guidance.guidance_preset),
            "strengths": [i.guidance_strength for i in step.guidance.instances],
            "aliases": [m.alias for i in step.guidance.instances for m in i.models],
            "cutouts": [i.cutouts.count for i in step.guidance.instances],
        })
    optional = {name: getattr(image, name) if image.HasField(name) else None
                for name in ("height", "width", "samples", "steps")}
    return {
        "engine_id": request.engine_id, "request_id": request.request_id,
        "requested_type": gen.ArtifactType.Name(request.requested_type),
        "prompts": prompts, "seed": list(image.seed), **optional,
        "diffusion": gen.DiffusionSampler.Name(image.transform.diffusion)
        if image.transform.HasField("diffusion") else None,
        "masked_area_init": gen.MaskedAreaInit.Name(image.masked_area_init)
        if image.HasField("masked_area_init") else None,
        "adapter_strength": image.adapter.adapter_strength if image.HasField("adapter") else None,
        "steps_parameters": steps,
        "extras": json_format.MessageToDict(request.extras) if request.HasField("extras") else None,
    }


def answer_values(answer: gen.Answer) -> dict:
    return {
        "answer_id": answer.answer_id, "request_id": answer.request_id,
        "received": answer.received, "created": answer.created,
        "meta": {"gpu_id": answer.meta.gpu_id, "engine_id": answer.meta.engine_id}
        if answer.HasField("meta") else None,
        "artifacts": [{
            "id": a.id, "type": gen.ArtifactType.Name(a.type), "mime": a.mime,
            "data": a.WhichOneof("data"), "binary": base64.b64encode(a.binary).decode(), "text": a.text,
            "index": a.index, "seed": a.seed, "uuid": a.uuid, "size": a.size,
            "finish_reason": gen.FinishReason.Name(a.finish_reason),
        } for a in answer.artifacts],
    }


def emit_requests() -> None:
    for case, request in build_requests().items():
        for variant, options in VARIANTS.items():
            text = json_format.MessageToJson(request, **options)
            print(json.dumps({"case": case, "variant": variant, "json": text,
                              "values": request_values(request)}))


def parse_answers() -> None:
    for line in sys.stdin:
        if line.strip():
            answer = json_format.Parse(line, gen.Answer(), ignore_unknown_fields=True)
            print(json.dumps(answer_values(answer)))


def parse_bytes_fields() -> None:
    """stdin: JSON lines {"case", "binary"}; how json_format reads each as Artifact.binary."""
    for line in sys.stdin:
        if not line.strip():
            continue
        item = json.loads(line)
        try:
            artifact = json_format.Parse(json.dumps({"binary": item["binary"]}), gen.Artifact())
        except json_format.ParseError as error:
            print(json.dumps({"case": item["case"], "ok": False, "error": str(error)[:200]}))
        else:
            print(json.dumps({"case": item["case"], "ok": True,
                              "binary": base64.b64encode(artifact.binary).decode()}))


def bench(repeats: int, mebibytes: int) -> None:
    """json_format timings on the SDK classes for the cases bench/bench_wire.py measures."""
    request = gen.Request(engine_id="sd", request_id="bench", prompt=[
        _text("a lighthouse"), _artifact(gen.ARTIFACT_IMAGE, _image_bytes(4 * 2**20, 3), "image/png")])
    request.image.height = request.image.width = 1024
    request.image.seed.append(42)
    request_json = json_format.MessageToJson(request, indent=None)
    answer = gen.Answer(answer_id="a-0", request_id="bench", received=1, created=2, artifacts=[
        gen.Artifact(id=1, type=gen.ARTIFACT_IMAGE, mime="image/png",
                     binary=_image_bytes(mebibytes * 2**20, 5), seed=42, uuid="u", size=mebibytes * 2**20)])
    print(json.dumps({
        "parse_request_s": _best(lambda: json_format.Parse(request_json, gen.Request()), repeats),
        "answer_to_json_s": _best(lambda: json_format.MessageToJson(answer, indent=None), repeats),
        "request_json_bytes": len(request_json),
    }))


def _best(action, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "requests":
        emit_requests()
    elif command == "answers":
        parse_answers()
    elif command == "bytes":
        parse_bytes_fields()
    elif command == "bench":
        bench(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(f"usage: {sys.argv[0]} requests | answers | bytes | bench REPEATS MIB")
