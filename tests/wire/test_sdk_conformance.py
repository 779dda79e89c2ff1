"""Conformance with an independent proto3-JSON implementation (the stability-sdk's
generated classes and google.protobuf.json_format), run in its own venv."""

from __future__ import annotations

import base64
import json

import pytest

from sfumato.wire import (
    Answer,
    AnswerMeta,
    Artifact,
    ArtifactType,
    FinishReason,
    ImageAdjustment,
    ImageAdjustmentInvert,
    Request,
)
from sfumato.wire_codec import WireError, decode_message, encode_message

from .sdk_python import run_reference


@pytest.fixture(scope="module")
def sdk_requests() -> list[dict]:
    return run_reference("requests")


def our_request_values(request: Request) -> dict:
    """The same shape sdk_reference.request_values reads from the protobuf objects."""
    prompts = []
    for prompt in request.prompt:
        weight = prompt.parameters.weight if prompt.parameters else None
        if prompt.text is not None:
            prompts.append({"kind": "text", "weight": weight, "text": prompt.text})
        else:
            artifact = prompt.artifact
            prompts.append({"kind": "artifact", "weight": weight, "type": artifact.type.value,
                            "mime": artifact.mime, "binary": base64.b64encode(artifact.binary).decode()})
    image = request.image
    steps = []
    for step in image.parameters:
        sampler, schedule, guidance = step.sampler, step.schedule, step.guidance
        steps.append({
            "cfg_scale": sampler.cfg_scale if sampler else None,
            "eta": sampler.eta if sampler else None,
            "start": schedule.start if schedule else None,
            "end": schedule.end if schedule else None,
            "preset": guidance.guidance_preset.value if guidance else "GUIDANCE_PRESET_NONE",
            "strengths": [i.guidance_strength for i in guidance.instances] if guidance else [],
            "aliases": [m.alias for i in guidance.instances for m in i.models] if guidance else [],
            "cutouts": [i.cutouts.count for i in guidance.instances] if guidance else [],
        })
    return {
        "engine_id": request.engine_id, "request_id": request.request_id,
        "requested_type": request.requested_type.value, "prompts": prompts, "seed": image.seed,
        "height": image.height, "width": image.width, "samples": image.samples, "steps": image.steps,
        "diffusion": image.transform.diffusion if image.transform else None,
        "masked_area_init": image.masked_area_init.value if image.masked_area_init else None,
        "adapter_strength": image.adapter.adapter_strength if image.adapter else None,
        "steps_parameters": steps, "extras": request.extras,
    }


def assert_same(ours: object, theirs: object, where: str = "") -> None:
    """Equal, with float32 rounding allowed (the SDK holds float fields as float32)."""
    if isinstance(theirs, float) and isinstance(ours, (int, float)):
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-9), where
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys(), where
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(mine, other, f"{where}[{index}]")
    else:
        assert ours == theirs, where


def test_reference_covers_every_case_and_variant(sdk_requests: list[dict]) -> None:
    cases = {(item["case"], item["variant"]) for item in sdk_requests}
    assert len(cases) == 12
    assert {variant for _, variant in cases} == {"default", "pretty", "proto-names-int-enums"}


def test_sdk_requests_decode_with_the_right_values(sdk_requests: list[dict]) -> None:
    for item in sdk_requests:
        request = decode_message(item["json"].encode(), Request)
        assert_same(our_request_values(request), item["values"], f"{item['case']}/{item['variant']}")


def test_proto_name_variant_really_uses_snake_case_and_numbers(sdk_requests: list[dict]) -> None:
    item = next(i for i in sdk_requests
                if i["case"] == "text-to-image" and i["variant"] == "proto-names-int-enums")
    assert '"engine_id"' in item["json"] and '"diffusion": 3' in item["json"]
    assert decode_message(item["json"], Request).image.transform.diffusion == "SAMPLER_K_EULER_ANCESTRAL"


def test_our_encoding_of_sdk_requests_matches_json_format(sdk_requests: list[dict]) -> None:
    # Same message, same printer rules: byte-for-byte equal after normalising whitespace.
    for item in sdk_requests:
        if item["variant"] != "default":
            continue
        ours = json.loads(encode_message(decode_message(item["json"], Request)))
        assert ours == json.loads(item["json"]), item["case"]


def sample_answers() -> list[Answer]:
    png = bytes(range(256)) * 4 + b"\x89PNG"
    return [
        Answer(answer_id="rq-1-0", request_id="rq-1", received=1_700_000_000_000, created=1_700_000_001_234,
               meta=AnswerMeta(engine_id="sd-v1-5", gpu_id="0"),
               artifacts=[Artifact(id=2**63 + 5, type=ArtifactType.ARTIFACT_IMAGE, mime="image/png",
                                   binary=png, index=0, seed=2**32 - 1, uuid="8c0e2f6a-uuid",
                                   size=len(png), finish_reason=FinishReason.NULL)]),
        Answer(answer_id="rq-1-1", request_id="rq-1", artifacts=[
            Artifact(id=1, type=ArtifactType.ARTIFACT_IMAGE, mime="image/png", binary=b"", index=1, seed=0,
                     finish_reason=FinishReason.FILTER,
                     adjustments=[ImageAdjustment(invert=ImageAdjustmentInvert())]),
            Artifact(type=ArtifactType.ARTIFACT_TEXT, text="", finish_reason=FinishReason.STOP)]),
        Answer(),
    ]


def our_answer_values(answer: Answer) -> dict:
    return {
        "answer_id": answer.answer_id, "request_id": answer.request_id,
        "received": answer.received, "created": answer.created,
        "meta": {"gpu_id": answer.meta.gpu_id or "", "engine_id": answer.meta.engine_id or ""}
        if answer.meta else None,
        "artifacts": [{
            "id": a.id, "type": a.type.value, "mime": a.mime,
            "data": "binary" if a.binary is not None else ("text" if a.text is not None else None),
            "binary": base64.b64encode(a.binary or b"").decode(), "text": a.text or "",
            "index": a.index, "seed": a.seed, "uuid": a.uuid, "size": a.size,
            "finish_reason": a.finish_reason.value,
        } for a in answer.artifacts],
    }


def test_our_answers_parse_in_json_format_with_equal_values() -> None:
    answers = sample_answers()
    lines = "\n".join(encode_message(answer).decode() for answer in answers) + "\n"
    parsed = run_reference("answers", stdin=lines)
    assert len(parsed) == len(answers)
    for ours, theirs in zip(answers, parsed, strict=True):
        assert_same(our_answer_values(ours), theirs, ours.answer_id)


BYTES_PAYLOAD = bytes(range(256)) * 3 + b"\xfb\xff"
BYTES_TEXT = base64.b64encode(BYTES_PAYLOAD).decode()


def _wrapped(text: str, newline: str, width: int = 76) -> str:
    return newline.join(text[i:i + width] for i in range(0, len(text), width)) + newline


def test_bytes_spellings_read_as_json_format_reads_them() -> None:
    accepted = {
        "padded": BYTES_TEXT,
        "unpadded": BYTES_TEXT.rstrip("="),
        "url-safe": base64.urlsafe_b64encode(BYTES_PAYLOAD).decode(),
        "mime-lf": _wrapped(BYTES_TEXT, "\n"),
        "mime-crlf": _wrapped(BYTES_TEXT, "\r\n"),
        "pem-64": _wrapped(BYTES_TEXT, "\n", width=64),
        "spaces-and-tabs": BYTES_TEXT.replace("A", " A\t"),
    }
    data_urls = {"data-url": "data:image/png;base64," + BYTES_TEXT, "bare-data-url": "data:," + BYTES_TEXT}
    cases = accepted | data_urls
    lines = "".join(json.dumps({"case": case, "binary": text}) + "\n" for case, text in cases.items())
    theirs = {item["case"]: item for item in run_reference("bytes", stdin=lines)}
    for case, text in accepted.items():
        request = decode_message(json.dumps({"prompt": [{"artifact": {"binary": text}}]}), Request)
        assert request.prompt[0].artifact.binary == BYTES_PAYLOAD, case
        assert theirs[case]["ok"] and base64.b64decode(theirs[case]["binary"]) == BYTES_PAYLOAD, case
    for case, text in data_urls.items():
        # json_format skips the prefix's punctuation and returns wrong bytes; we refuse and say why.
        assert not theirs[case]["ok"] or base64.b64decode(theirs[case]["binary"]) != BYTES_PAYLOAD, case
        with pytest.raises(WireError, match="data: URL"):
            decode_message(json.dumps({"prompt": [{"artifact": {"binary": text}}]}), Request)
