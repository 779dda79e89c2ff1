"""Unit tests of the gradient engine, called directly as the host's worker would."""

from __future__ import annotations

import numpy as np
import pytest


from sfumato.engines import Engine, EngineConfig, EngineServices  # noqa: E402
from sfumato.errors import Cancelled, Code, RpcError  # noqa: E402
from sfumato.jobs.cancel import BatchCancelToken, CancelToken  # noqa: E402
from sfumato.jobs.job import GenerationJob, ImageTask, SamplerSettings, WeightedText  # noqa: E402
from sfumato.plugins import load_plugins  # noqa: E402
from sfumato_example import plugin  # noqa: E402
from sfumato_example.engine import GradientEngine, gradient_ramp, smoothstep  # noqa: E402


@pytest.fixture(scope="module")
def registered():
    return load_plugins(use_entry_points=False, extra=[("example", plugin)], strict=True)


@pytest.fixture
def engine(registered) -> GradientEngine:
    services = EngineServices(samplers=registered.samplers_for("gradient"), cache_dir="")
    built = GradientEngine(EngineConfig(id="gradient", kind="gradient"), services)
    built.load(lambda line: None)
    return built


def make_job(**overrides) -> GenerationJob:
    values = dict(
        request_id="r",
        engine_id="gradient",
        width=32,
        height=24,
        seeds=[7],
        steps=5,
        sampler=SamplerSettings(name="SAMPLER_GRADIENT_SMOOTH"),
        prompt=[WeightedText("a sunset")],
        extensions={"angle": 0.0},
    )
    values.update(overrides)
    return GenerationJob(**values)


def run(engine: GradientEngine, *jobs: GenerationJob) -> list[np.ndarray]:
    tasks = [ImageTask(job, index, seed) for job in jobs for index, seed in enumerate(job.seeds)]
    token = BatchCancelToken(job.cancel for job in jobs)
    return [image.pixels for image in engine.generate(tasks, lambda step, total: None, token)]


def test_implements_the_engine_protocol(engine):
    assert isinstance(engine, Engine)
    description = engine.describe()
    assert set(description.samplers) == {"SAMPLER_GRADIENT_SMOOTH", "SAMPLER_GRADIENT_LINEAR"}
    assert description.default_sampler == "SAMPLER_GRADIENT_SMOOTH"
    assert [param.name for param in description.extensions] == ["angle"]


def test_image_shape_and_type(engine):
    (pixels,) = run(engine, make_job())
    assert pixels.shape == (24, 32, 3)
    assert pixels.dtype == np.uint8


def test_same_seed_same_image_different_seed_different_image(engine):
    first, again = run(engine, make_job(seeds=[7])), run(engine, make_job(seeds=[7]))
    other = run(engine, make_job(seeds=[8]))
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])


def test_an_image_does_not_depend_on_its_batch(engine):
    alone = run(engine, make_job(seeds=[11]))[0]
    batched = run(engine, make_job(seeds=[3, 11, 12]), make_job(seeds=[99], prompt=[WeightedText("other")]))
    np.testing.assert_array_equal(batched[1], alone)


def test_angle_turns_the_gradient(engine):
    (horizontal,) = run(engine, make_job(extensions={"angle": 0.0}))
    (vertical,) = run(engine, make_job(extensions={"angle": 90.0}))
    # 0°: every column is constant top to bottom; 90°: every row is constant left to right.
    assert (horizontal == horizontal[:1]).all() and not (horizontal == horizontal[:, :1]).all()
    assert (vertical == vertical[:, :1]).all() and not (vertical == vertical[:1]).all()


def test_ramp_runs_from_zero_to_one_along_the_angle():
    ramp = gradient_ramp(64, 8, 0.0)
    assert ramp[0, 0] < 0.02 and ramp[0, -1] > 0.98
    assert np.all(np.diff(ramp[0]) > 0)
    np.testing.assert_allclose(gradient_ramp(64, 64, 180.0), gradient_ramp(64, 64, 0.0)[:, ::-1])


def test_samplers_differ(engine):
    (smooth,) = run(engine, make_job())
    (linear,) = run(engine, make_job(sampler=SamplerSettings(name="SAMPLER_GRADIENT_LINEAR")))
    assert not np.array_equal(smooth, linear)
    assert smoothstep(np.array([0.0, 0.5, 1.0])).tolist() == [0.0, 0.5, 1.0]


def test_eta_adds_grain_on_the_linear_sampler(engine):
    (clean,) = run(engine, make_job(sampler=SamplerSettings(name="SAMPLER_GRADIENT_LINEAR")))
    (grainy,) = run(engine, make_job(sampler=SamplerSettings(name="SAMPLER_GRADIENT_LINEAR", eta=1.0)))
    assert np.abs(grainy.astype(int) - clean.astype(int)).mean() > 2


def test_strength_zero_returns_the_init_image(engine):
    init = np.random.default_rng(0).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    (pixels,) = run(engine, make_job(init_image=init, strength=0.0))
    np.testing.assert_array_equal(pixels, init)


def test_strength_blends_init_and_gradient(engine):
    init = np.full((24, 32, 3), 200, dtype=np.uint8)
    (gradient,) = run(engine, make_job())
    (half,) = run(engine, make_job(init_image=init, strength=0.5))
    expected = np.rint(200 * 0.5 + gradient.astype(np.float64) * 0.5)
    assert np.abs(half.astype(np.float64) - expected).max() <= 1.0


def test_progress_is_reported_every_step(engine):
    job = make_job(steps=6)
    reported = []
    engine.generate([ImageTask(job, 0, 7)], lambda step, total: reported.append((step, total)), job.cancel)
    assert reported == [(step, 6) for step in range(1, 7)]


def test_cancel_stops_at_the_next_step(engine):
    job = make_job(steps=50)
    reported = []

    def progress(step: int, total: int) -> None:
        reported.append(step)
        if step == 3:
            job.cancel.cancel("stop")

    with pytest.raises(Cancelled):
        engine.generate([ImageTask(job, 0, 7)], progress, BatchCancelToken([job.cancel]))
    assert reported == [1, 2, 3]


def test_a_batch_runs_on_while_one_of_its_jobs_is_live(engine):
    cancelled, live = make_job(seeds=[1]), make_job(seeds=[2])
    cancelled.cancel.cancel()
    images = run(engine, cancelled, live)
    assert len(images) == 2


def test_negative_prompts_are_refused_before_work_is_accepted(engine):
    with pytest.raises(RpcError) as raised:
        engine.validate(make_job(negative_prompt=[WeightedText("blur")]))
    assert raised.value.code == Code.UNIMPLEMENTED
    assert "negative prompts" in raised.value.message
    engine.validate(make_job())  # a plain job passes


def test_batch_key_groups_by_shape_and_steps(engine):
    assert engine.batch_key(make_job(seeds=[1])) == engine.batch_key(make_job(seeds=[2], extensions={"angle": 9.0}))
    assert engine.batch_key(make_job()) != engine.batch_key(make_job(steps=9))
    assert engine.batch_key(make_job()) != engine.batch_key(make_job(width=64))


def test_unknown_options_are_refused(registered):
    services = EngineServices(samplers=registered.samplers_for("gradient"), cache_dir="")
    with pytest.raises(ValueError, match="unknown options colour"):
        GradientEngine(EngineConfig(id="g", kind="gradient", options={"colour": "red"}), services)


def test_cancel_token_before_the_first_step(engine):
    token = CancelToken()
    token.cancel()
    job = make_job()
    with pytest.raises(Cancelled):
        engine.generate([ImageTask(job, 0, 7)], lambda step, total: None, token)
