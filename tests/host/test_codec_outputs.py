"""The backbone codec carries the non-image outputs, token prompts, initial latents and schedules."""

from __future__ import annotations

import numpy as np
import pytest

from sfumato.backbone.codec import decode_job, decode_result, encode_job, encode_result
from sfumato.jobs.job import GenerationJob, SamplerSettings, WeightedText
from sfumato.jobs.outputs import OutputArtifact
from sfumato.jobs.state import ImageResult


def test_job_fields_round_trip():
    latent = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3)
    job = GenerationJob(
        request_id="r", engine_id="e", width=24, height=16, seeds=[1], steps=4,
        sampler=SamplerSettings("SAMPLER_K_EULER"),
        prompt=[WeightedText("a cat", 1.0), WeightedText("", 0.5, tokens=(3, 4, 5), tokenizer_id="clip-x")],
        requested_type="ARTIFACT_LATENT", init_latent=latent, schedule_end=0.25,
        cfg_schedule=((0.0, 3.0), (1.0, 9.0)), clip_guidance=0.5, clip_guidance_schedule=((0.25, 1.0), (0.75, 0.5)),
        clip_cutouts=8,
    )
    back = decode_job(encode_job(job))
    assert back.prompt == job.prompt and back.requested_type == "ARTIFACT_LATENT"
    assert np.array_equal(back.init_latent, latent) and back.init_latent.dtype == np.float32
    assert back.schedule_end == 0.25 and back.cfg_schedule == ((0.0, 3.0), (1.0, 9.0))
    assert back.clip_guidance_schedule == ((0.25, 1.0), (0.75, 0.5)) and back.clip_cutouts == 8


def test_a_latent_of_the_wrong_kind_is_refused():
    job = GenerationJob(request_id="r", engine_id="e", width=8, height=8, seeds=[1], steps=1,
                        sampler=SamplerSettings("SAMPLER_K_EULER"), init_latent=np.zeros((4, 1, 1), np.uint8))
    with pytest.raises(ValueError, match="init_latent"):
        encode_job(job)


def test_result_outputs_round_trip():
    outputs = (
        OutputArtifact("ARTIFACT_LATENT", tensor=np.ones((1, 4, 2, 2), np.float32)),
        OutputArtifact("ARTIFACT_TOKENS", tokens=((1, "a</w>"), (7, "cat</w>")), tokenizer_id="clip-x"),
        OutputArtifact("ARTIFACT_CLASSIFICATIONS", text="{}", mime="application/json", flagged=True),
    )
    result = ImageResult(index=0, seed=3, png=b"png", filtered=False, created_ms=5, outputs=outputs)
    back = decode_result(encode_result(result))
    assert np.array_equal(back.outputs[0].tensor, outputs[0].tensor)
    assert back.outputs[1:] == outputs[1:]
