"""Core generation behaviour on the tiny random-weight model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from _support import SAMPLER_SPECS, generate, make_engine, make_job, one, tasks_of
from sfumato.errors import Cancelled, Code, RpcError
from sfumato.jobs.cancel import CancelToken
from sfumato.jobs.job import WeightedText

from sfumato_diffusers.engine import DiffusersEngine


def test_images_have_the_requested_size_and_type(engine):
    image = one(engine, width=64, height=48)
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert image.std() > 1.0  # not a blank canvas


def test_same_seed_same_image_and_different_seed_different_image(engine):
    a, b, c = one(engine, seeds=[11]), one(engine, seeds=[11]), one(engine, seeds=[12])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


# Batches vs single runs (byte-identical with batch_mode "sequential"): test_batch_modes.py.


def test_img2img_strength_zero_returns_the_init_image(engine):
    init = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = one(engine, init_image=init, strength=0.0)
    assert np.array_equal(out, init)


def test_img2img_follows_the_init_image_by_strength(engine):
    rng = np.random.default_rng(1)
    init = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], 64, axis=0).repeat(3, axis=2)
    light = one(engine, init_image=init, strength=0.3, steps=10)
    full = one(engine, init_image=init, strength=1.0, steps=10)
    plain = one(engine, steps=10)
    assert np.abs(light.astype(int) - init).mean() < np.abs(full.astype(int) - init).mean()
    # strength 1.0 ignores the init image: it is plain text-to-image
    assert np.array_equal(full, plain)
    assert rng is not None


def test_long_prompts_use_every_window(engine):
    max_tokens = engine.pipe.tokenizer.model_max_length
    words = " ".join(["red cat"] * max_tokens)  # well over one window
    assert len(engine.pipe.tokenizer(words).input_ids) > max_tokens
    long_a = one(engine, prompt=[WeightedText(words + " blue")])
    long_b = one(engine, prompt=[WeightedText(words + " tree")])
    # the words differ only past the first window: only a multi-window encoding sees them
    assert not np.array_equal(long_a, long_b)


def test_prompt_fragment_weights_matter(engine):
    a = one(engine, prompt=[WeightedText("red cat", 1.0), WeightedText("blue sky", 0.2)])
    b = one(engine, prompt=[WeightedText("red cat", 1.0), WeightedText("blue sky", 3.0)])
    c = one(engine, prompt=[WeightedText("red cat", 1.0), WeightedText("blue sky", 0.2)],
            negative_prompt=[WeightedText("dog")])
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_cfg_scale_and_steps_matter(engine):
    base = one(engine)
    assert not np.array_equal(base, one(engine, sampler=make_job().sampler.__class__("SAMPLER_K_EULER", cfg_scale=2.0)))
    assert not np.array_equal(base, one(engine, steps=5))


def test_progress_reports_every_step(engine):
    seen: list[tuple[int, int]] = []
    generate(engine, make_job(steps=5), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 5) for i in range(1, 6)]


def test_cancel_mid_run_raises_and_decodes_nothing(engine, monkeypatch):
    decoded: list[int] = []
    original = engine.pipe.vae.decode
    monkeypatch.setattr(engine.pipe.vae, "decode", lambda *a, **k: decoded.append(1) or original(*a, **k))
    job = make_job(steps=8, tiling=True)
    steps: list[int] = []

    def progress(done: int, total: int) -> None:
        steps.append(done)
        if done == 3:
            job.cancel.cancel("client went away")

    with pytest.raises(Cancelled):
        engine.generate(tasks_of(job), progress, job.cancel)
    assert steps == [1, 2, 3] and decoded == []
    monkeypatch.undo()
    # the cancelled tiled run left the model untouched
    assert all(m.padding_mode == "zeros" for m in engine.pipe.unet.modules() if hasattr(m, "padding_mode"))
    assert np.array_equal(one(engine, seeds=[5]), one(engine, seeds=[5]))


def test_saved_and_reloaded_model_gives_identical_images(tmp_path, cache_dir):
    # A fresh engine: the shared one may hold cached LoRA adapters, which save_pretrained would write out.
    original = make_engine("tiny-sd", cache_dir)
    original.pipe.save_pretrained(tmp_path / "copy")
    reloaded = make_engine(str(tmp_path / "copy"), cache_dir)
    assert np.array_equal(one(original, seeds=[9]), one(reloaded, seeds=[9]))


def test_describe_is_cheap_and_honest_before_load(tmp_path):
    from sfumato.engines import EngineConfig, EngineServices

    engine = DiffusersEngine(
        EngineConfig(id="t", kind="diffusers", model="tiny-sd"),
        EngineServices(samplers=SAMPLER_SPECS, cache_dir=str(tmp_path)),
    )
    info = engine.describe()
    assert engine.pipe is None and not (tmp_path / "tiny-sd").exists()
    assert (info.native_width, info.native_height) == (64, 64)
    assert info.supports_lora and info.supports_tiling and info.supports_hires
    assert info.supports_clip_guidance  # tiny-sd carries tiny-clip
    assert set(info.samplers) == set(SAMPLER_SPECS)


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"clip_guidance": 0.5, "sampler": "SAMPLER_DDIM"}, Code.UNIMPLEMENTED, "CLIP guidance needs a sampler"),
        ({"width": 60}, Code.INVALID_ARGUMENT, "multiples of 8"),
        ({"sampler": "SAMPLER_NOPE"}, Code.INVALID_ARGUMENT, "SAMPLER_NOPE"),
        ({"mask": np.ones((64, 64), np.float32)}, Code.INVALID_ARGUMENT, "init image"),
        ({"strength": 1.5}, Code.INVALID_ARGUMENT, "strength"),
    ],
)
def test_validate_rejects_what_the_engine_cannot_do(engine, fields, code, words):
    with pytest.raises(RpcError) as caught:
        engine.validate(make_job(**fields))
    assert caught.value.code == code and words in caught.value.message


def test_batch_key_separates_incompatible_jobs(engine):
    from sfumato.jobs.job import LoraInput

    key = engine.batch_key
    assert key(make_job(prompt=[WeightedText("x")], seeds=[1])) == key(make_job(prompt=[WeightedText("y")], seeds=[2]))
    lora = LoraInput(weight=1.0, safetensors=b"x", key="abc")
    for change in ({"width": 72}, {"steps": 5}, {"tiling": True}, {"loras": [lora]}):
        assert key(make_job()) != key(make_job(**change)), change


def test_plugin_module_does_not_import_torch():
    code = (
        "import sys, sfumato_diffusers.plugin as p;"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, 'heavy import';"
        "print(len(p.SAMPLERS))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "19"


def test_cancel_token_checked_before_work(engine):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        engine.generate(tasks_of(make_job()), lambda d, t: None, token)
