"""schedule.end, cfg schedules, latent/token inputs and non-image outputs, checked against plain diffusers.

The reference runs the engine's own pipeline object through diffusers' public call with a
step callback written here from the documented rules, so the engine's bookkeeping
(when to stop, which guidance scale each step gets) is checked independently.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _support import SAMPLER_SPECS, make_job, tasks_of
from sfumato.jobs.job import ImageTask, WeightedText
from sfumato.records import resolve


def run(engine, **fields):
    job = make_job(**fields)
    engine.validate(job)
    return engine.generate(tasks_of(job), lambda done, total: None, job.cancel)


def reference_latents(engine, job, guidance_at=None) -> list[torch.Tensor]:
    """Every step's latents of a plain text-to-image pipeline call, the guidance scale per step from
    ``guidance_at(position)`` (position = step / (steps - 1)) when given."""
    item = engine._prepare(ImageTask(job, 0, job.seeds[0]))
    pipe = engine._text2img
    pipe.scheduler = resolve(SAMPLER_SPECS[job.sampler.name].factory)(engine._base_scheduler_config, job.sampler)
    captured: list[torch.Tensor] = []

    def on_step_end(pipeline, step, timestep, tensors):
        captured.append(tensors["latents"].clone())
        if guidance_at is not None:
            pipeline._guidance_scale = guidance_at((step + 1) / (job.steps - 1))
        return tensors

    pipe(
        prompt_embeds=item.positive.embeds,
        negative_prompt_embeds=item.negative.embeds,
        num_inference_steps=job.steps,
        guidance_scale=guidance_at(0.0) if guidance_at else job.sampler.cfg_scale,
        generator=torch.Generator("cpu").manual_seed(job.seeds[0]),
        output_type="latent",
        callback_on_step_end=on_step_end,
    )
    return captured


@pytest.mark.parametrize(("steps", "end", "expected_steps"), [(4, 0.5, 2), (5, 0.3, 4), (6, 0.25, 5)])
def test_schedule_end_returns_the_latent_after_the_last_step_it_runs(engine, steps, end, expected_steps):
    (result,) = run(engine, steps=steps, schedule_end=end, requested_type="ARTIFACT_LATENT")
    job = make_job(steps=steps)
    reference = reference_latents(engine, job)
    assert expected_steps == steps - int(steps * end)
    np.testing.assert_allclose(result.outputs[0].tensor, reference[expected_steps - 1].numpy(), atol=1e-5)


def test_full_run_latent_is_the_last_step_latent(engine):
    (result,) = run(engine, requested_type="ARTIFACT_LATENT")
    reference = reference_latents(engine, make_job())
    np.testing.assert_allclose(result.outputs[0].tensor, reference[-1].numpy(), atol=1e-5)


def test_cfg_schedule_gives_each_step_its_interpolated_scale(engine):
    keys = ((0.0, 3.0), (0.5, 12.0), (1.0, 5.0))
    (result,) = run(engine, steps=5, cfg_schedule=keys, requested_type="ARTIFACT_LATENT",
                    sampler=make_job().sampler.__class__("SAMPLER_K_EULER", cfg_scale=3.0))

    def by_hand(position: float) -> float:
        # 0..0.5: 3 → 12, 0.5..1: 12 → 5
        return 3.0 + 18.0 * position if position <= 0.5 else 12.0 - 14.0 * (position - 0.5)

    reference = reference_latents(engine, make_job(steps=5), by_hand)
    np.testing.assert_allclose(result.outputs[0].tensor, reference[-1].numpy(), atol=1e-5)
    constant = reference_latents(engine, make_job(steps=5))
    assert not np.allclose(result.outputs[0].tensor, constant[-1].numpy(), atol=1e-3)


def test_token_prompt_and_its_text_give_the_same_conditioning(engine):
    (tokens,) = run(engine, requested_type="ARTIFACT_TOKENS", prompt=[WeightedText("a blue house")])
    ids = tuple(token_id for token_id, _ in tokens.outputs[0].tokens)
    # BOS/EOS around the ids are tolerated (dropped), as a client may echo a full encoding.
    tokenizer = engine._encoder.tokenizers[0]
    wrapped = (tokenizer.bos_token_id, *ids, tokenizer.eos_token_id)
    by_text = run(engine, requested_type="ARTIFACT_EMBEDDING", prompt=[WeightedText("a blue house")])[0]
    by_ids = run(engine, requested_type="ARTIFACT_EMBEDDING", prompt=[WeightedText("", tokens=wrapped)])[0]
    assert np.array_equal(by_text.outputs[0].tensor, by_ids.outputs[0].tensor)


def test_out_of_vocabulary_ids_are_refused_by_the_engine_too(engine):
    from sfumato.errors import RpcError

    job = make_job(prompt=[WeightedText("", tokens=(1, engine._encoder.vocabulary_size))])
    with pytest.raises(RpcError) as caught:
        engine.validate(job)
    assert caught.value.code.name == "INVALID_ARGUMENT" and "outside this engine's vocabulary" in caught.value.message


def test_latent_prompt_with_no_step_decodes_to_the_image(engine):
    (image,) = run(engine, seeds=[3])
    (latent,) = run(engine, seeds=[3], requested_type="ARTIFACT_LATENT")
    assert np.array_equal(image.pixels, latent.pixels)
    (back,) = run(engine, seeds=[9], init_latent=latent.outputs[0].tensor[0], strength=0.0)
    assert np.array_equal(back.pixels, image.pixels)


def test_the_vocabulary_is_hashed_once_not_per_request(engine, monkeypatch):
    # describe() runs for every request on the event loop; hashing a real CLIP vocabulary
    # (49408 entries) there cost tens of milliseconds each time.
    from sfumato_diffusers.prompts import tokenizer_id

    tokenizer = engine._encoder.tokenizers[0]
    expected = tokenizer_id(tokenizer)
    engine.describe()  # the first one may hash it
    calls = []
    original = type(tokenizer).get_vocab
    monkeypatch.setattr(type(tokenizer), "get_vocab", lambda self: calls.append(1) or original(self))
    descriptions = [engine.describe() for _ in range(3)]
    assert {d.tokenizer_id for d in descriptions} == {expected}
    assert calls == []
