"""Testing an engine without a server: jobs built like the host builds them, recorded runs, a conformance suite.

    from sfumato.engine_testing import EngineConformance, load_engine

    engine = load_engine("gradient", plugin=my_plugin)          # load_plugins + factory + load()
    job = engine.job(prompt="a sunset", width=64, height=48, seeds=[7], steps=4)
    run = engine.run(job, cancel_after_steps=2)                 # recorded progress and cancel checks

    class TestConformance(EngineConformance):                   # the standard properties, in one line
        @pytest.fixture(scope="class")
        def conformance_engine(self):
            return load_engine("gradient", plugin=my_plugin)

Jobs go through the host's own path: a proto3-JSON ``Request`` decoded by
:func:`sfumato.wire_codec.decode_message`, then :func:`sfumato.jobs.build.build_job`
(sizes, seeds, samplers and their flags, extension parameters are validated) and
``engine.validate``. Everything here is also re-exported by :mod:`sfumato.testing`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest

from sfumato import wire
from sfumato.config import LimitSettings
from sfumato.engines import Engine, EngineConfig, EngineDescription, EngineLimits, EngineServices
from sfumato.errors import Cancelled, RpcError
from sfumato.images import encode_png
from sfumato.jobs.build import build_job
from sfumato.jobs.cancel import BatchCancelToken
from sfumato.jobs.job import GeneratedImage, GenerationJob, ImageTask
from sfumato.records import AdjustmentSpec, ExtensionParam, SamplerSpec, resolve
from sfumato.wire_codec import decode_message

__all__ = [
    "DEFAULT_PROMPT",
    "EngineConformance",
    "EngineRun",
    "EngineUnderTest",
    "RecordingCancel",
    "SAMPLER_FLAGS",
    "load_engine",
    "make_job",
    "request_body",
    "run_engine",
    "tasks_of",
]

DEFAULT_PROMPT = "a lighthouse on a cliff at dusk"


# ---- engines ---------------------------------------------------------------------------------


@dataclass
class EngineUnderTest:
    """An engine with what the host would give it: its config, its kind's samplers, the adjustments.

    Build one with :func:`load_engine`, or directly around an engine you made yourself:
    ``EngineUnderTest(engine, samplers={spec.name: spec for spec in MY_SAMPLERS})``.
    """

    engine: Engine
    samplers: Mapping[str, SamplerSpec]
    config: EngineConfig = field(default_factory=lambda: EngineConfig(id="engine", kind="engine"))
    adjustments: Mapping[str, AdjustmentSpec] = field(default_factory=dict)

    def describe(self) -> EngineDescription:
        return self.engine.describe()

    def job(self, request: Any = None, **keywords: Any) -> GenerationJob:
        """A validated job for this engine: see :func:`make_job`."""
        return make_job(self, request, **keywords)

    def run(self, work: Any, **kwargs: Any) -> EngineRun:
        """Run jobs or tasks through ``generate``: see :func:`run_engine`."""
        return run_engine(self.engine, work, **kwargs)

    def images(self, work: Any) -> list[np.ndarray]:
        """Just the pixels of a run."""
        return self.run(work).pixels

    def close(self) -> None:
        self.engine.close()


def load_engine(
    kind: str,
    *,
    plugin: object | None = None,
    plugins: Iterable[str] | None = None,
    engine_id: str | None = None,
    model: str = "",
    options: Mapping[str, Any] | None = None,
    cache_dir: str = "",
    config: EngineConfig | None = None,
    load: bool = True,
) -> EngineUnderTest:
    """Build an engine of ``kind`` the way the server does, and load it.

    ``plugin`` is a plugin module (or object) registered directly, without entry
    points, so a plugin's tests work before it is installed; ``plugins`` are entry
    point names instead. With neither, every installed entry point is loaded. Loading
    is strict: a plugin that fails to load fails the test. The built-in adjustments are
    always registered, so requests may carry them.
    """
    from sfumato.builtin import adjustments as builtin_adjustments
    from sfumato.plugins import load_plugins

    if plugin is not None:
        name = getattr(plugin, "__name__", type(plugin).__name__).rsplit(".", 1)[-1]
        registered = load_plugins(
            use_entry_points=False, extra=[(name, plugin), ("adjustments", builtin_adjustments)], strict=True
        )
    elif plugins is not None:
        registered = load_plugins(only=[*plugins, "adjustments"], strict=True)
    else:
        registered = load_plugins(strict=True)
    engine_kind = registered.engine_kinds.get(kind)
    if engine_kind is None:
        loaded = ", ".join(sorted(registered.engine_kinds)) or "none"
        raise LookupError(f"no loaded plugin provides engine kind {kind!r} (loaded: {loaded})")
    if config is None:
        config = EngineConfig(id=engine_id or kind, kind=kind, model=model, options=dict(options or {}))
    samplers = dict(registered.samplers_for(kind))
    engine = resolve(engine_kind.factory)(config, EngineServices(samplers=samplers, cache_dir=cache_dir))
    if load:
        engine.load(lambda line: None)
    return EngineUnderTest(engine=engine, samplers=samplers, config=config, adjustments=dict(registered.adjustments))


# ---- jobs ------------------------------------------------------------------------------------


def _prompts(value: Any, sign: float) -> list[dict[str, Any]]:
    if value is None:
        return []
    items = [value] if isinstance(value, (str, tuple)) else list(value)
    prompts = []
    for item in items:
        text, weight = (item, 1.0) if isinstance(item, str) else item
        prompts.append({"text": text, "parameters": {"weight": sign * abs(float(weight))}})
    return prompts


def _binary(value: Any) -> str:
    data = value if isinstance(value, (bytes, bytearray)) else encode_png(np.asarray(value, dtype=np.uint8))
    return base64.b64encode(bytes(data)).decode()


def _extension(name: str, value: Any, declared: Mapping[str, ExtensionParam]) -> dict[str, Any]:
    param = declared.get(name)
    if param is not None:
        kind = param.type
    else:  # undeclared: typed from the value, and build_job names the problem
        kind = "str" if isinstance(value, str) else "int" if isinstance(value, int) else "float"
    return {"name": name, kind: str(value) if kind == "int" else value}


_SAMPLER_FIELDS = ("cfg_scale", "eta", "churn", "churn_tmin", "churn_tmax", "sigma_min", "sigma_max", "karras_rho", "noise_type")
_KEYWORDS = {
    "prompt", "negative_prompt", "width", "height", "seeds", "samples", "steps", "sampler", "strength",
    "init_image", "mask", "tiling", "extensions", "request_id", *_SAMPLER_FIELDS,
}


def request_body(*, extension_params: Sequence[ExtensionParam] = (), **keywords: Any) -> dict[str, Any]:
    """A proto3-JSON ``Request`` (without ``engineId``) from keywords.

    ``prompt`` / ``negative_prompt``: a string, ``(text, weight)`` or a list of either
    (default prompt: :data:`DEFAULT_PROMPT`); ``width``, ``height``, ``seeds`` (an int or a
    list), ``samples``, ``steps``, ``sampler`` (a name), ``cfg_scale``, ``eta``, ``churn``,
    ``churn_tmin``, ``churn_tmax``, ``sigma_min``, ``sigma_max``, ``karras_rho``,
    ``noise_type``, ``strength``; ``init_image`` / ``mask`` (an H×W(×C) ``uint8`` array or
    encoded image bytes); ``tiling``; ``extensions`` (name → value, typed by the engine's
    declared :class:`~sfumato.records.ExtensionParam` when ``extension_params`` names it);
    ``request_id``.
    """
    unknown = sorted(set(keywords) - _KEYWORDS)
    if unknown:
        raise TypeError(f"unknown job keywords {', '.join(unknown)}; accepted: {', '.join(sorted(_KEYWORDS))}")
    get = keywords.get
    prompts = _prompts(get("prompt", DEFAULT_PROMPT), 1.0) + _prompts(get("negative_prompt"), -1.0)
    for kind, key in (("ARTIFACT_IMAGE", "init_image"), ("ARTIFACT_MASK", "mask")):
        if get(key) is not None:
            prompts.append({"artifact": {"type": kind, "binary": _binary(get(key))}})
    image: dict[str, Any] = {}
    for key in ("width", "height", "samples", "steps"):
        if get(key) is not None:
            image[key] = str(int(get(key)))
    seeds = get("seeds")
    if seeds is not None:
        image["seed"] = [int(seeds)] if isinstance(seeds, int) else [int(seed) for seed in seeds]
        image.setdefault("samples", str(len(image["seed"])))
    if get("sampler") is not None:
        image["transform"] = {"diffusion": get("sampler")}
    sampler: dict[str, Any] = {}
    for key, wire_name in (("cfg_scale", "cfgScale"), ("eta", "eta"), ("noise_type", "noiseType")):
        if get(key) is not None:
            sampler[wire_name] = get(key)
    for group, names in (
        ("churn", (("churn", "churn"), ("churn_tmin", "churnTmin"), ("churn_tmax", "churnTmax"))),
        ("sigma", (("sigma_min", "sigmaMin"), ("sigma_max", "sigmaMax"), ("karras_rho", "karrasRho"))),
    ):
        values = {wire_name: get(key) for key, wire_name in names if get(key) is not None}
        if values:
            sampler[group] = values
    step: dict[str, Any] = {}
    if sampler:
        step["sampler"] = sampler
    if get("strength") is not None:
        step["schedule"] = {"start": get("strength")}
    if step:
        image["parameters"] = [step]
    if get("tiling"):
        image["tiling"] = True
    if get("extensions"):
        declared = {param.name: param for param in extension_params}
        parameters = [_extension(name, value, declared) for name, value in get("extensions").items()]
        image["extension"] = {"parameters": parameters}
    body: dict[str, Any] = {"prompt": prompts, "image": image}
    if get("request_id") is not None:
        body["requestId"] = get("request_id")
    return body


def make_job(
    target: EngineUnderTest | Engine | EngineDescription,
    request: Any = None,
    *,
    samplers: Mapping[str, SamplerSpec] | None = None,
    limits: EngineLimits | None = None,
    input_limits: LimitSettings | None = None,
    adjustments: Mapping[str, AdjustmentSpec] | None = None,
    test_controls: bool = True,
    validate: bool = True,
    **keywords: Any,
) -> GenerationJob:
    """A :class:`GenerationJob` built by the host's ``build_job`` from a Request or from keywords.

    ``request`` is a proto3-JSON Request (a dict, str or bytes, decoded with sfumato's
    codec) or a decoded :class:`sfumato.wire.Request`; otherwise ``keywords`` make one
    (see :func:`request_body`). Validation errors are the server's: ``RpcError`` (or the
    codec's ``WireError``). ``validate`` also runs ``engine.validate(job)`` when an engine
    is given. Without an :class:`EngineUnderTest`, pass ``samplers`` (the kind's specs);
    a bare description without them gets permissive specs (every flag claimed).
    """
    engine: Engine | None = None
    config = None
    if isinstance(target, EngineUnderTest):
        engine, config = target.engine, target.config
        samplers = target.samplers if samplers is None else samplers
        adjustments = target.adjustments if adjustments is None else adjustments
    elif isinstance(target, EngineDescription):
        description = target
    else:
        engine = target
    if engine is not None:
        description = engine.describe()
    if samplers is None:
        samplers = {name: _permissive_spec(name) for name in description.samplers}
    if request is not None and keywords:
        raise TypeError("pass either a request or keywords, not both")
    if request is None:
        request = request_body(extension_params=description.extensions, **keywords)
    if not isinstance(request, wire.Request):
        data = json.dumps(request) if isinstance(request, dict) else request
        numbers = {spec.number: spec.name for spec in samplers.values() if spec.number is not None}
        request = decode_message(
            data, wire.Request, samplers=numbers or None,
            adjustments={name: spec.params for name, spec in (adjustments or {}).items()},
        )
    job = build_job(
        request,
        engine_id=config.id if config is not None else (request.engine_id or "engine"),
        description=description,
        limits=limits or (config.limits if config is not None else EngineLimits()),
        samplers=samplers,
        input_limits=input_limits or LimitSettings(),
        adjustments=adjustments or {},
        test_controls=test_controls,
    )
    if validate and engine is not None:
        engine.validate(job)
    return job


def _permissive_spec(name: str) -> SamplerSpec:
    return SamplerSpec(
        name=name, engine_kind="", factory=lambda *args: None, supports_eta=True, supports_churn=True,
        supports_sigma_limits=True, supports_karras_rho=True,
        noise_types=("SAMPLER_NOISE_NORMAL", "SAMPLER_NOISE_BROWNIAN"),
    )


def tasks_of(*work: GenerationJob | ImageTask | Iterable[GenerationJob | ImageTask]) -> list[ImageTask]:
    """The tasks the scheduler would hand an engine: one per seed of each job, in order."""
    tasks: list[ImageTask] = []
    for item in work:
        if isinstance(item, GenerationJob):
            tasks.extend(ImageTask(item, index, seed) for index, seed in enumerate(item.seeds))
        elif isinstance(item, ImageTask):
            tasks.append(item)
        else:
            tasks.extend(tasks_of(*item))
    return tasks


# ---- runs ------------------------------------------------------------------------------------


class RecordingCancel:
    """The batch's cancel token, recording each check; :meth:`fire` cancels this run only.

    The jobs' own tokens are left alone, so a job can be run again after a cancelled run.
    """

    def __init__(self, tasks: Sequence[ImageTask], progress_calls: list[tuple[int, int]]) -> None:
        self._batch = BatchCancelToken({id(task.job): task.job.cancel for task in tasks}.values())
        self._progress = progress_calls
        self.fired_after: int | None = None  # progress calls made when fire() ran
        self.checks: list[int] = []  # progress calls made at each check

    def fire(self) -> None:
        if self.fired_after is None:
            self.fired_after = len(self._progress)

    @property
    def cancelled(self) -> bool:
        self.checks.append(len(self._progress))
        return self.fired_after is not None or self._batch.cancelled

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled("cancelled by the test" if self.fired_after is not None else "every job in the batch was cancelled")


@dataclass
class EngineRun:
    """What one ``generate`` call did."""

    tasks: list[ImageTask]
    images: list[GeneratedImage]
    progress: list[tuple[int, int]]
    cancel: RecordingCancel
    error: Cancelled | None = None

    @property
    def pixels(self) -> list[np.ndarray]:
        return [image.pixels for image in self.images]

    @property
    def cancel_checks(self) -> list[int]:
        return self.cancel.checks

    @property
    def progress_after_cancel(self) -> int | None:
        """Progress calls after the cancel fired (``None``: it never fired)."""
        fired = self.cancel.fired_after
        return None if fired is None else len(self.progress) - fired

    def check_images(self) -> None:
        """One ``uint8`` H×W×3 or ×4 image per task, at its job's size."""
        assert len(self.images) == len(self.tasks), f"{len(self.tasks)} tasks gave {len(self.images)} images"
        for position, (task, image) in enumerate(zip(self.tasks, self.images)):
            pixels = image.pixels
            assert isinstance(pixels, np.ndarray), f"image {position}: pixels are a {type(pixels).__name__}, not a numpy array"
            assert pixels.dtype == np.uint8, f"image {position}: dtype {pixels.dtype}, expected uint8"
            expected = (task.job.height, task.job.width)
            assert pixels.ndim == 3 and pixels.shape[:2] == expected and pixels.shape[2] in (3, 4), (
                f"image {position}: shape {pixels.shape}, expected {expected[0]}×{expected[1]}×3 (or ×4)"
            )


def run_engine(
    engine: Engine | EngineUnderTest,
    work: Any,
    *,
    cancel_after_steps: int | None = None,
) -> EngineRun:
    """Call ``engine.generate`` once for ``work`` (jobs, tasks, or lists of them) as the host's worker does.

    Progress calls and cancel checks are recorded. With ``cancel_after_steps=n`` the run
    is cancelled inside the n-th progress call (0: before ``generate`` starts); the
    ``Cancelled`` it should raise is kept in :attr:`EngineRun.error`, not raised.
    """
    if isinstance(engine, EngineUnderTest):
        engine = engine.engine
    tasks = tasks_of(work)
    progress: list[tuple[int, int]] = []
    cancel = RecordingCancel(tasks, progress)

    def record(step: int, total: int, preview: Any = None) -> None:
        progress.append((step, total))
        if cancel_after_steps is not None and len(progress) >= cancel_after_steps:
            cancel.fire()

    if cancel_after_steps == 0:
        cancel.fire()
    run = EngineRun(tasks=tasks, images=[], progress=progress, cancel=cancel)
    try:
        run.images = list(engine.generate(tasks, record, cancel))
    except Cancelled as error:
        if cancel_after_steps is None:
            raise
        run.error = error
    return run


# ---- conformance -----------------------------------------------------------------------------

# Sampler flag → the SamplerSettings fields it governs.
SAMPLER_FLAGS: dict[str, tuple[str, ...]] = {
    "supports_eta": ("eta",),
    "supports_churn": ("churn",),
    "supports_sigma_limits": ("sigma_min", "sigma_max"),
    "supports_karras_rho": ("karras_rho",),
}


_ENGINE_METHODS = ("describe", "load", "validate", "batch_key", "generate", "close")


class EngineConformance:
    """Standard properties of every engine, as a pytest mixin.

    Subclass it in a test module (the name must start with ``Test``) and provide a
    ``conformance_engine`` fixture returning an :class:`EngineUnderTest`::

        class TestGradientConformance(EngineConformance):
            conformance_job = {"extensions": {"angle": 30.0}}

            @pytest.fixture(scope="class")
            def conformance_engine(self):
                return load_engine("gradient", plugin=plugin)

    Class attributes make it cheap by default and adjustable: sizes, steps, seeds,
    the samplers to check and the values used to probe each sampler flag. Override a
    test method (e.g. with ``pytest.skip``) to leave a property out, with a reason.
    """

    conformance_size: tuple[int, int] = (64, 48)  # width, height: not square, to catch swapped axes
    conformance_steps: int = 3
    conformance_seeds: tuple[int, ...] = (11, 12, 4_000_000_000)
    conformance_prompt: str = DEFAULT_PROMPT
    conformance_job: Mapping[str, Any] = {}  # further keywords for every job (extensions, cfg_scale…)
    conformance_samplers: Sequence[str] | None = None  # None: every sampler the engine describes
    # Two settings per sampler flag that must give different images when the flag is claimed.
    conformance_flag_values: Mapping[str, tuple[Any, Any]] = {
        "eta": (0.0, 1.0),
        "churn": (0.0, 1.0),
        "sigma_min": (0.2, 0.5),
        "sigma_max": (8.0, 4.0),
        "karras_rho": (3.0, 10.0),
    }
    conformance_cancel_after: int = 1  # progress calls before the cancel fires

    # -- helpers ---------------------------------------------------------------------------

    def conformance_make_job(self, under_test: EngineUnderTest, **keywords: Any) -> GenerationJob:
        width, height = self.conformance_size
        values: dict[str, Any] = {
            "prompt": self.conformance_prompt, "width": width, "height": height,
            "seeds": [self.conformance_seeds[0]], "steps": self.conformance_steps, **self.conformance_job,
        }
        values.update(keywords)
        return under_test.job(**values)

    def conformance_sampler_names(self, under_test: EngineUnderTest) -> list[str]:
        described = list(under_test.describe().samplers)
        names = described if self.conformance_samplers is None else list(self.conformance_samplers)
        missing = [name for name in names if name not in under_test.samplers]
        assert not missing, f"samplers not registered for this engine's kind: {', '.join(missing)}"
        return names

    # -- the properties --------------------------------------------------------------------

    def test_conformance_is_an_engine(self, conformance_engine: EngineUnderTest) -> None:
        assert isinstance(conformance_engine, EngineUnderTest), "conformance_engine must return an EngineUnderTest (see load_engine)"
        missing = [name for name in _ENGINE_METHODS if not callable(getattr(conformance_engine.engine, name, None))]
        assert not missing, f"the engine lacks methods of the Engine protocol: {', '.join(missing)}"
        description = conformance_engine.describe()
        assert description.default_sampler in description.samplers, (
            f"default sampler {description.default_sampler} is not among the described samplers"
        )
        unregistered = [name for name in description.samplers if name not in conformance_engine.samplers]
        assert not unregistered, f"described samplers with no registered SamplerSpec: {', '.join(unregistered)}"

    def test_conformance_images_match_the_tasks(self, conformance_engine: EngineUnderTest) -> None:
        seeds = list(self.conformance_seeds[:2])
        run = conformance_engine.run(self.conformance_make_job(conformance_engine, seeds=seeds))
        run.check_images()
        assert len(run.images) == len(seeds)

    def test_conformance_same_seed_same_pixels(self, conformance_engine: EngineUnderTest) -> None:
        first = conformance_engine.images(self.conformance_make_job(conformance_engine))
        again = conformance_engine.images(self.conformance_make_job(conformance_engine))
        np.testing.assert_array_equal(again[0], first[0], err_msg="the same job and seed gave different pixels")

    def test_conformance_seed_changes_the_image(self, conformance_engine: EngineUnderTest) -> None:
        one, other = self.conformance_seeds[:2]
        first = conformance_engine.images(self.conformance_make_job(conformance_engine, seeds=[one]))
        second = conformance_engine.images(self.conformance_make_job(conformance_engine, seeds=[other]))
        assert not np.array_equal(first[0], second[0]), f"seeds {one} and {other} gave the same pixels"

    def test_conformance_batch_invariance(self, conformance_engine: EngineUnderTest) -> None:
        seed = self.conformance_seeds[0]
        alone = conformance_engine.images(self.conformance_make_job(conformance_engine, seeds=[seed]))[0]
        mixed = self.conformance_make_job(conformance_engine, seeds=[*self.conformance_seeds[1:], seed])
        jobs = [mixed]
        neighbour = self.conformance_make_job(conformance_engine, seeds=[seed + 1], prompt="a different prompt")
        if _same_batch(conformance_engine.engine, mixed, neighbour):
            jobs.append(neighbour)  # a neighbour job, as the scheduler may batch them
        run = conformance_engine.run(jobs)
        run.check_images()
        position = len(mixed.seeds) - 1
        np.testing.assert_array_equal(
            run.pixels[position], alone,
            err_msg=f"seed {seed} alone and in a batch of {len(run.tasks)} gave different pixels",
        )

    def test_conformance_progress_and_cancel_checks_every_step(self, conformance_engine: EngineUnderTest) -> None:
        run = conformance_engine.run(self.conformance_make_job(conformance_engine))
        assert run.progress, "generate never called progress(step, total)"
        steps = [step for step, _ in run.progress]
        assert steps == sorted(steps), f"progress went backwards: {run.progress}"
        assert run.progress[-1][0] == run.progress[-1][1], f"the last progress call is not step == total: {run.progress}"
        # A check between every two steps (before a step or right after its progress call).
        checked = set(run.cancel_checks)
        unchecked = [count for count in range(1, len(run.progress)) if count not in checked]
        assert not unchecked, (
            f"no cancel check between progress calls {[(count, count + 1) for count in unchecked]}: "
            "call cancel.raise_if_cancelled() at least once per step"
        )

    def test_conformance_cancel_within_one_step(self, conformance_engine: EngineUnderTest) -> None:
        after = self.conformance_cancel_after
        steps = max(self.conformance_steps, after + 2)
        run = conformance_engine.run(self.conformance_make_job(conformance_engine, steps=steps), cancel_after_steps=after)
        assert run.cancel.fired_after is not None, f"the run made {len(run.progress)} progress calls; the cancel never fired"
        assert isinstance(run.error, Cancelled), f"cancelled after {after} progress call(s), generate returned {len(run.images)} images"
        assert run.progress_after_cancel is not None and run.progress_after_cancel <= 1, (
            f"{run.progress_after_cancel} more steps ran after the cancel; at most one may"
        )

    def test_conformance_cancelled_before_the_start(self, conformance_engine: EngineUnderTest) -> None:
        run = conformance_engine.run(self.conformance_make_job(conformance_engine), cancel_after_steps=0)
        assert isinstance(run.error, Cancelled), "a batch cancelled before generate ran returned images"
        assert len(run.progress) <= 1, f"{len(run.progress)} steps ran for a batch cancelled before the start"

    def test_conformance_sampler_flags_are_honest(self, conformance_engine: EngineUnderTest) -> None:
        """Changing a sampler parameter changes the image exactly when the spec claims support for it."""
        problems: list[str] = []
        for name in self.conformance_sampler_names(conformance_engine):
            spec = conformance_engine.samplers[name]
            base = self.conformance_make_job(conformance_engine, sampler=name)
            baseline = conformance_engine.images(base)[0]
            for flag, fields in SAMPLER_FLAGS.items():
                claimed = bool(getattr(spec, flag))
                images = []
                for choice in (0, 1):
                    values = {key: self.conformance_flag_values[key][choice] for key in fields}
                    if claimed:
                        job = self.conformance_make_job(conformance_engine, sampler=name, **values)
                    else:
                        # The host refuses these; the engine still must not act on them.
                        job = replace(base, sampler=replace(base.sampler, **values))
                        try:
                            conformance_engine.engine.validate(job)
                        except RpcError:
                            break  # refused: not silently honoured either
                    images.append(conformance_engine.images(job)[0])
                if not images:
                    continue
                if claimed and np.array_equal(images[0], images[1]):
                    problems.append(f"{name}: claims {flag}, but {_settings(self.conformance_flag_values, fields)} gave the same image")
                if not claimed and any(not np.array_equal(image, baseline) for image in images):
                    problems.append(f"{name}: does not claim {flag}, but setting {', '.join(fields)} changed the image")
        assert not problems, "dishonest sampler flags:\n" + "\n".join(problems)


def _settings(values: Mapping[str, tuple[Any, Any]], fields: Sequence[str]) -> str:
    return " and ".join(", ".join(f"{key}={values[key][choice]}" for key in fields) for choice in (0, 1))


def _same_batch(engine: Engine, one: GenerationJob, other: GenerationJob) -> bool:
    key_one: Hashable = engine.batch_key(one)
    return key_one == engine.batch_key(other)

