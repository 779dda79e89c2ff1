"""The ``diffusers`` engine kind: Stable Diffusion 1.x/2.x/XL through diffusers pipelines."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from sfumato.engines import Engine, EngineConfig, EngineDescription, EngineServices, LoadProgress, StepProgress
from sfumato.errors import Code, RpcError
from sfumato.jobs.cancel import CancelSignal
from sfumato.jobs import outputs
from sfumato.jobs.job import GeneratedImage, GenerationJob, ImageTask, SamplerSettings, WeightedText
from sfumato.jobs.step_params import guidance_factor, value_at
from sfumato.records import SamplerSpec, resolve

from sfumato_diffusers import hires
from sfumato_diffusers.acceleration import Acceleration
from sfumato_diffusers.call_overhead import attention_processors, pin_placement, sign_attention_processors
from sfumato_diffusers.clip_guidance import TINY_CLIP, ClipGuide, build_tiny_clip
from sfumato_diffusers import outputs as engine_outputs
from sfumato_diffusers.engine_checks import check_job
from sfumato_diffusers.loading import (
    MODEL_LOADING,
    ModelLoadError,
    choose_device,
    choose_dtype,
    load_pipeline,
    place_pipeline,
)
from sfumato_diffusers.lora import LoraAdapters
from sfumato_diffusers.model_source import (
    TINY_DEFAULT_STEPS,
    TINY_MAX_TOKENS,
    peek_facts,
    resolve_source,
)
from sfumato_diffusers.options import parse_options
from sfumato_diffusers.previews import BatchPreviews
from sfumato_diffusers.progress import StepCounter
from sfumato_diffusers.prompts import Conditioning, PromptEncoder
from sfumato_diffusers.safety import SafetyFilter
from sfumato_diffusers.samplers.helpers import UnusableSchedule, model_sigma_range, seed_brownian_noise
from sfumato_diffusers.threads import apply_thread_settings
from sfumato_diffusers.tiling import circular_padding
from sfumato_diffusers.vae_precision import apply_vae_dtype

ENGINE_KIND = "diffusers"
DEFAULT_SAMPLER = "SAMPLER_K_EULER"
CLIP_WINDOW = 77
# Stable Diffusion 1.x/2.x/XL latents: 4 channels, one per 8×8 pixels.
LATENT_CHANNELS = 4
LATENT_SCALE = 8


@dataclass
class _Item:
    """One task ready to sample: its conditioning and its own random generator."""

    task: ImageTask
    positive: Conditioning
    negative: Conditioning
    generator: torch.Generator


def _to_uint8(images: np.ndarray) -> np.ndarray:
    return (np.clip(images, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _rgb(image: np.ndarray, width: int, height: int) -> Image.Image:
    pil = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    if pil.size != (width, height):
        pil = pil.resize((width, height), Image.Resampling.LANCZOS)
    return pil


class DiffusersEngine(Engine):
    """The :class:`sfumato.engines.Engine` for diffusers Stable Diffusion pipelines."""

    def __init__(self, config: EngineConfig, services: EngineServices) -> None:
        super().__init__(config, services)
        try:
            self.options = parse_options(config.options)
            self.source = resolve_source(config.model or "tiny-sd", services.cache_dir)
        except ValueError as exc:
            raise ModelLoadError(f"engine {config.id!r}: {exc}") from exc
        self.samplers: dict[str, SamplerSpec] = {
            name: spec for name, spec in services.samplers.items() if spec.engine_kind == ENGINE_KIND
        }
        self._facts = peek_facts(self.source, self.options.config)
        # The embedded tiny-sd carries a tiny CLIP so guidance can be tried out of the box.
        self._clip_model = self.options.clip_model or (TINY_CLIP if self.source.is_tiny else None)
        self._guide: ClipGuide | None = None
        self.pipe: Any = None
        self._device = "not loaded"

    # -- description -------------------------------------------------------------------------

    @property
    def native_size(self) -> int:
        if self.pipe is not None:
            return int(self.pipe.unet.config.sample_size) * int(self.pipe.vae_scale_factor)
        if self.options.native_size:
            return self.options.native_size
        return self._facts.native_size or (1024 if self._facts.is_xl else 512)

    @property
    def inpaint_unet(self) -> bool:
        if self.pipe is not None:
            return int(self.pipe.unet.config.in_channels) == 9
        return bool(self._facts.inpaint_unet)

    def _max_prompt_tokens(self) -> int:
        if self.pipe is not None:
            return self._encoder.max_tokens
        window = TINY_MAX_TOKENS if self.source.is_tiny else CLIP_WINDOW
        return (window - 2) * self.options.max_prompt_chunks

    def describe(self) -> EngineDescription:
        tiny = self.source.is_tiny
        return EngineDescription(
            native_width=self.native_size,
            native_height=self.native_size,
            default_steps=self.config.default_steps or (TINY_DEFAULT_STEPS if tiny else 50),
            default_sampler=self.config.default_sampler or DEFAULT_SAMPLER,
            samplers=sorted(self.samplers),
            supports_init_image=True,
            supports_mask=True,
            supports_lora=True,
            supports_hires=True,
            supports_tiling=True,
            supports_clip_guidance=self._clip_model is not None,
            tokenizer_max_tokens=self._max_prompt_tokens(),
            device=self._device,
            output_types=frozenset(self._output_types()),
            latent_channels=self._latent_channels(),
            latent_scale=int(self.pipe.vae_scale_factor) if self.pipe is not None else LATENT_SCALE,
            supports_token_prompts=True,
            tokenizer_id=self._encoder.tokenizer_id if self.pipe is not None else None,
            vocabulary_size=self._encoder.vocabulary_size if self.pipe is not None else None,
        )

    def _output_types(self) -> list[str]:
        types = list(engine_outputs.SUPPORTED)
        if self.options.safety_checker != "off":
            types.append(outputs.CLASSIFICATIONS)
        return types

    def _latent_channels(self) -> int | None:
        """Initial latents need a 4-channel UNet: a 9-channel inpainting one also wants a mask and image."""
        if self.inpaint_unet:
            return None
        if self.pipe is not None:
            return int(self.pipe.unet.config.in_channels)
        return LATENT_CHANNELS

    # -- loading -----------------------------------------------------------------------------

    def load(self, report: LoadProgress) -> None:
        from sfumato_diffusers.quiet import quiet

        quiet()
        device = choose_device(self.options)
        dtype = choose_dtype(self.options, device)
        report(f"device {device}, dtype {str(dtype).removeprefix('torch.')}")
        threads = apply_thread_settings(self.options.cpu_threads, device)
        if threads:
            report(threads)
        # One model build or load at a time: from_pretrained swaps in accelerate's process-wide
        # empty-weights patch, which would give a model built meanwhile on another thread meta tensors.
        with MODEL_LOADING:
            if self.source.is_tiny:
                from sfumato_diffusers.tiny import build_tiny_pipeline

                report("tiny-sd: random-weight smoke-test model (its images are noise, not pictures)")
                build_tiny_pipeline(self.source.location)
            pipe = load_pipeline(self.source, self.options, dtype, report)
            if self._clip_model not in (None, TINY_CLIP):  # a real CLIP loads (or fails) with the engine
                report(f"CLIP guidance: {self._clip_model}")
                self._guide = ClipGuide(self._clip_model, device)
        place_pipeline(pipe, device, self.options, report)
        self._acceleration = Acceleration(pipe, self.options, device, self.config.id)
        # Fusing QKV builds new Linear layers: not while another engine's from_pretrained has
        # accelerate's empty-weights patch in place (they would come out on the meta device).
        with MODEL_LOADING:
            precision = apply_vae_dtype(pipe, self.options.vae_dtype, self.config.id)
            if precision:
                report(precision)
            self._acceleration.apply_layout(report)
        self._acceleration.compile(self.services.cache_dir, report)
        self._install(pipe, device)
        native = (self.native_size, self.native_size)
        self._acceleration.warm_up(list(self.options.compile_warmup_sizes or [native]), self._warm_up, report)
        report(f"ready: {type(pipe).__name__}, native size {self.native_size}")

    def _warm_up(self, width: int, height: int) -> None:
        """A two-step generation with the default sampler and guidance on (both CFG branches in
        one UNet call, as requests run), so the compiled graphs exist before the first request."""
        sampler = SamplerSettings(self.config.default_sampler or DEFAULT_SAMPLER, cfg_scale=7.0)
        job = GenerationJob(request_id="compile-warm-up", engine_id=self.config.id, width=width, height=height,
                            seeds=[0], steps=2, sampler=sampler, prompt=[WeightedText("warm-up")])
        self.generate([ImageTask(job, 0, 0)], lambda done, total: None, job.cancel)

    def _clip_guide(self) -> ClipGuide:
        """The CLIP model; tiny-clip is built on the first guided request, keeping start-up quick."""
        if self._guide is None:
            with MODEL_LOADING:
                if self._guide is None:
                    folder = build_tiny_clip(Path(self.services.cache_dir) / TINY_CLIP)
                    self._guide = ClipGuide(str(folder), torch.device(self._device))
        return self._guide

    def _install(self, pipe: Any, device: torch.device) -> None:
        from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

        self.pipe = pipe
        self._device = str(device)
        self._xl = getattr(pipe, "text_encoder_2", None) is not None
        # Views sharing the same modules: no weights are copied.
        if self.inpaint_unet:
            self._inpaint = pipe
            self._text2img = self._img2img = None
        else:
            self._text2img = AutoPipelineForText2Image.from_pipe(pipe)
            self._img2img = AutoPipelineForImage2Image.from_pipe(pipe)
            self._inpaint = AutoPipelineForInpainting.from_pipe(pipe)
        for view in (self._text2img, self._img2img, self._inpaint):
            if view is not None:
                view.set_progress_bar_config(disable=True)
        self._base_scheduler_config = dict(pipe.scheduler.config)
        self._encoder = PromptEncoder(
            [pipe.tokenizer, getattr(pipe, "tokenizer_2", None)],
            [pipe.text_encoder, getattr(pipe, "text_encoder_2", None)],
            xl=self._xl,
            max_windows=self.options.max_prompt_chunks,
            cache_size=self.options.prompt_cache_size,
        )
        self._loras = LoraAdapters(pipe, self.options.lora_cache_size)
        self._safety = SafetyFilter(
            self.options.safety_checker,
            getattr(pipe, "safety_checker", None),
            getattr(pipe, "feature_extractor", None),
        )
        # The filter runs the checker once, after sampling; left in the pipelines it would run again
        # inside each call and black out flagged images even in "flag" mode.
        views = [view for view in (pipe, self._text2img, self._img2img, self._inpaint) if view is not None]
        for view in views:
            if getattr(view, "safety_checker", None) is not None:
                view.safety_checker = None
        if self.options.cpu_offload == "off":  # offload hooks move the models per call: diffusers must look
            pin_placement(views)
        models = [module for module in pipe.components.values() if isinstance(module, torch.nn.Module)]
        sign_attention_processors(attention_processors(models) + self._acceleration.saved_processors())
        # "batched" (the default) is the fast mode; only "sequential" trades speed for results that are
        # byte-identical however requests were batched (docs/diffusers.md, batch_mode).
        self._sequential = self.options.batch_mode == "sequential"

    def close(self) -> None:
        self.pipe = self._text2img = self._img2img = self._inpaint = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- admission ---------------------------------------------------------------------------

    def validate(self, job: GenerationJob) -> None:
        check_job(job, self.samplers)
        if self.pipe is not None:
            self._encoder.check_vocabulary(job.prompt + job.negative_prompt)
            if job.clip_guidance > 0:
                scheduler = resolve(self.samplers[job.sampler.name].factory)(self._base_scheduler_config, job.sampler)
                self._check_guidance(job, scheduler)

    def _unusable_schedule(self, job: GenerationJob) -> RpcError:
        settings = job.sampler
        low, high = model_sigma_range(self._base_scheduler_config)
        given = {"sigmaMin": settings.sigma_min, "sigmaMax": settings.sigma_max, "karrasRho": settings.karras_rho}
        shown = ", ".join(f"{name} {value:g}" for name, value in given.items() if value is not None)
        return RpcError(
            Code.INVALID_ARGUMENT,
            f"sampler.sigma: {shown} give {settings.name} an unusable noise schedule over {job.steps} steps "
            f"(its noise levels come out as NaN); keep sigmaMin and sigmaMax inside this model's noise range "
            f"{low:.4g}..{high:.4g}, or use more steps",
        )

    def batch_key(self, job: GenerationJob) -> Hashable:
        return (
            job.width,
            job.height,
            job.steps,
            job.sampler,  # frozen dataclass: every sampler parameter incl. cfg
            job.init_image is not None,
            job.mask is not None,
            job.strength if job.init_image is not None else None,
            job.tiling,
            None if job.hires is None else (job.hires.enable, job.hires.oos_fraction),
            tuple((lora.key or id(lora), lora.weight) for lora in job.loras),
            job.requested_type,
            job.init_latent is not None,
            job.schedule_end,
            job.cfg_schedule,
            job.clip_guidance,
            job.clip_guidance_schedule,
            job.clip_cutouts,
        )

    # -- generation --------------------------------------------------------------------------

    def generate(self, tasks: Sequence[ImageTask], progress: StepProgress, cancel: CancelSignal) -> list[GeneratedImage]:
        if self.pipe is None:
            raise RpcError(Code.UNAVAILABLE, f"engine {self.config.id!r} is not loaded yet")
        if not tasks:
            return []
        cancel.raise_if_cancelled()
        job = tasks[0].job
        self._encoder.check_vocabulary(job.prompt + job.negative_prompt)
        pixels: dict[int, np.ndarray] = {}
        latents: dict[int, torch.Tensor] = {}
        with (
            self._acceleration.for_loras(bool(job.loras)),
            self._loras.active(job.loras),
            circular_padding([self.pipe.unet, self.pipe.vae], job.tiling),
        ):
            # Prompts are encoded with the request's adapters on: a LoRA may patch the text encoder too.
            items = [self._prepare(task) for task in tasks]
            if job.requested_type in engine_outputs.PROMPT_ONLY:
                return [self._prompt_output(item) for item in items]
            runs = self._runs(items)
            counter = StepCounter(progress, phases=len(runs) * self._phases(job))
            counter.board = BatchPreviews([item.task for item in items], self._xl)
            for run in runs:
                cancel.raise_if_cancelled()
                self._final_latents = None
                for index, (item, image) in enumerate(zip(run, self._sample(run, counter, cancel))):
                    pixels[id(item)] = image
                    if self._final_latents is not None:
                        latents[id(item)] = self._final_latents[index]
        images = np.stack([pixels[id(item)] for item in items])
        images, flags = self._safety.apply(images)
        results = []
        for image, flag, item in zip(images, flags, items):
            extra: tuple = ()
            if job.requested_type in outputs.LATENT_TYPES:
                extra = (engine_outputs.latent_output(job.requested_type, latents[id(item)]),)
            elif job.requested_type == outputs.CLASSIFICATIONS:
                extra = (engine_outputs.classification_output(flag, self._safety.mode),)
            results.append(GeneratedImage(pixels=image, filtered=flag, info={"seed": item.task.seed}, outputs=extra))
        return results

    def _prompt_output(self, item: _Item) -> GeneratedImage:
        """ARTIFACT_TOKENS / ARTIFACT_EMBEDDING: from the prompt alone, with a blank image for the contract."""
        job = item.task.job
        if job.requested_type == outputs.TOKENS:
            extra = engine_outputs.token_outputs(self._encoder, job)
        else:
            extra = (engine_outputs.embedding_output(item.positive),)
        blank = np.zeros((job.height, job.width, 3), np.uint8)
        return GeneratedImage(pixels=blank, info={"seed": item.task.seed}, outputs=extra)

    def _prepare(self, task: ImageTask) -> _Item:
        job = task.job
        reuse = not job.loras  # adapters may change the text encoder: no cached encodings then
        positive = self._encoder.encode(job.prompt, reuse=reuse)
        negative = self._encoder.encode(job.negative_prompt, which="negative", reuse=reuse)
        # Positive and negative embeddings must be the same length for CFG.
        windows = max(positive.length, negative.length) // self._encoder.tokenizers[0].model_max_length
        if positive.length != negative.length:
            positive = self._encoder.encode(job.prompt, min_windows=windows, reuse=reuse)
            negative = self._encoder.encode(job.negative_prompt, min_windows=windows, which="negative", reuse=reuse)
        if self._xl and not job.negative_prompt and self.pipe.config.get("force_zeros_for_empty_prompt"):
            negative = Conditioning(
                torch.zeros_like(negative.embeds),
                None if negative.pooled is None else torch.zeros_like(negative.pooled),
            )
        return _Item(task, positive, negative, torch.Generator("cpu").manual_seed(task.seed))

    def _runs(self, items: list[_Item]) -> list[list[_Item]]:
        """Pipeline calls for the batch: one per image in sequential mode, else one per
        conditioning length (images of one call must share it)."""
        if self._sequential:
            return [[item] for item in items]
        groups: dict[int, list[_Item]] = {}
        for item in items:
            groups.setdefault(item.positive.length, []).append(item)
        return list(groups.values())

    def _phases(self, job: GenerationJob) -> int:
        return 2 if self._uses_hires(job) else 1

    def _uses_hires(self, job: GenerationJob) -> bool:
        return bool(
            job.hires is not None
            and job.hires.enable
            and job.mask is None
            and job.init_latent is None
            and hires.needs_hires(job.width, job.height, self.native_size)
        )

    def _sample(self, run: list[_Item], counter: StepCounter, cancel: CancelSignal) -> list[np.ndarray]:
        job = run[0].task.job
        if job.init_latent is not None:
            latent = torch.from_numpy(np.ascontiguousarray(job.init_latent))[None]
            latent = latent.to(self.pipe.unet.device, self.pipe.unet.dtype)
            if int(job.steps * job.strength) < 1:
                # No step to run: the latent is the answer, decoded as the pipeline would.
                self._final_latents = [latent] * len(run)
                return engine_outputs.decode_latents(self.pipe, torch.cat([latent] * len(run)))
            if job.strength < 1.0:
                init = [latent] * len(run)
                return self._diffuse(run, counter, cancel, job.width, job.height, job.strength, init)
            # strength 1.0 ignores the latent: plain text-to-image.
        if job.init_image is not None:
            init = [_rgb(item.task.job.init_image, job.width, job.height) for item in run]
            if int(job.steps * job.strength) < 1:
                # No step of the schedule would be re-run: the init image is the answer.
                return [np.asarray(image) for image in init]
            if job.mask is not None:
                masks = [Image.fromarray(_to_uint8(item.task.job.mask)) for item in run]
                return self._diffuse(run, counter, cancel, job.width, job.height, job.strength, init, masks)
            if job.strength < 1.0 and self._uses_hires(job):
                return self._hires_from_image(run, counter, cancel, init)
            if job.strength < 1.0:
                return self._diffuse(run, counter, cancel, job.width, job.height, job.strength, init)
            # strength 1.0 ignores the init image: plain text-to-image.
        if not self._uses_hires(job):
            return self._diffuse(run, counter, cancel, job.width, job.height)
        assert job.hires is not None
        layout = hires.plan(job.width, job.height, self.native_size, job.hires.oos_fraction)
        drafts = self._diffuse(run, counter, cancel, layout.first_width, layout.first_height)
        placed = [Image.fromarray(hires.place(d, job.width, job.height, layout.scale)) for d in drafts]
        return self._diffuse(run, counter, cancel, job.width, job.height, self.options.hires_strength, placed)

    def _guidance(self, run: list[_Item], scheduler: Any):
        """The per-step CLIP nudge for this run, or None without guidance."""
        job = run[0].task.job
        if job.clip_guidance <= 0:
            return None
        self._check_guidance(job, scheduler)
        guide = self._clip_guide()
        guide.losses = []
        targets = torch.cat([guide.target(item.task.job.positive_text()) for item in run])
        cutouts = torch.Generator("cpu").manual_seed(run[0].task.seed)
        count = job.clip_cutouts or self.options.clip_cutouts

        def nudge(scheduler: Any, latents: torch.Tensor, position: float) -> torch.Tensor:
            sigma = float(scheduler.sigmas[min(scheduler.step_index, len(scheduler.sigmas) - 1)])
            strength = job.clip_guidance
            if job.clip_guidance_schedule:
                strength *= guidance_factor(job.clip_guidance_schedule, position)
            if sigma <= 0 or strength <= 0:
                return latents
            return guide.nudge(self.pipe.vae, latents, sigma, targets, strength, count, cutouts)

        return nudge

    def _check_guidance(self, job: GenerationJob, scheduler: Any) -> None:
        if self._clip_model is None:
            raise RpcError(Code.UNIMPLEMENTED, f"engine {self.config.id!r} has no CLIP model (options.clip_model)")
        if job.clip_cutouts is not None and job.clip_cutouts > self.options.clip_max_cutouts:
            raise RpcError(
                Code.INVALID_ARGUMENT,
                f"guidance cutouts: {job.clip_cutouts} cutouts; this engine allows at most "
                f"{self.options.clip_max_cutouts} (options.clip_max_cutouts)",
            )
        if getattr(scheduler, "sigmas", None) is None:
            raise RpcError(
                Code.UNIMPLEMENTED,
                f"CLIP guidance needs a sampler with a noise-level (σ) schedule; {job.sampler.name} has none "
                "(use SAMPLER_K_EULER, SAMPLER_K_LMS, SAMPLER_K_HEUN, …)",
            )

    def _hires_from_image(
        self, run: list[_Item], counter: StepCounter, cancel: CancelSignal, init: list[Image.Image]
    ) -> list[np.ndarray]:
        """Hires fix with an init image: img2img of the init image fitted into the native square (as
        oosFraction lays it out), the draft placed back over the init image, then refined at full size
        with the smaller of ``hires_strength`` and the request's strength."""
        job = run[0].task.job
        assert job.hires is not None
        native = self.native_size
        layout = hires.plan(job.width, job.height, native, job.hires.oos_fraction)
        fitted = [Image.fromarray(hires.fit_native(np.asarray(image), native, layout.scale)) for image in init]
        drafts = self._diffuse(run, counter, cancel, native, native, job.strength, fitted)
        placed = [
            Image.fromarray(hires.place_on(draft, np.asarray(image), layout.scale))
            for draft, image in zip(drafts, init)
        ]
        refine = min(self.options.hires_strength, job.strength)
        return self._diffuse(run, counter, cancel, job.width, job.height, refine, placed)

    def _diffuse(
        self,
        run: list[_Item],
        counter: StepCounter,
        cancel: CancelSignal,
        width: int,
        height: int,
        strength: float = 1.0,
        init: list[Image.Image] | list[torch.Tensor] | None = None,
        masks: list[Image.Image] | None = None,
    ) -> list[np.ndarray]:
        """One pipeline call; returns H×W×3 uint8 images (and keeps the final latents in ``_final_latents``).

        ``init`` is images, or 1×C×h×w latents (img2img without the VAE encode)."""
        job = run[0].task.job
        spec = self.samplers[job.sampler.name]
        scheduler = resolve(spec.factory)(self._base_scheduler_config, job.sampler)
        seed_brownian_noise(scheduler, [item.task.seed for item in run])

        evaluations = _evaluations_to_run(job, strength)

        guidance = self._guidance(run, scheduler)

        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
            counter.step(pipe.num_timesteps, counter.preview_for([item.task for item in run], tensors.get("latents")))
            cancel.raise_if_cancelled()  # raising here aborts before the VAE decode
            total = evaluations(pipe.num_timesteps)
            if guidance is not None:
                tensors["latents"] = guidance(pipe.scheduler, tensors["latents"], step / max(1, total - 1))
            self._final_latents = list(tensors["latents"].split(1))
            if job.schedule_end > 0 and step + 1 >= total:
                pipe._interrupt = True  # schedule.end: the remaining steps are skipped, then decoded
            elif job.cfg_schedule:
                pipe._guidance_scale = value_at(job.cfg_schedule, (step + 1) / max(1, total - 1))
            return tensors

        kwargs: dict[str, Any] = dict(
            prompt_embeds=torch.cat([item.positive.embeds for item in run]),
            negative_prompt_embeds=torch.cat([item.negative.embeds for item in run]),
            num_inference_steps=job.steps,
            guidance_scale=job.sampler.cfg_scale,
            generator=[item.generator for item in run],
            output_type="np",
            callback_on_step_end=on_step_end,
        )
        if self._xl:
            kwargs["pooled_prompt_embeds"] = torch.cat([item.positive.pooled for item in run])
            kwargs["negative_pooled_prompt_embeds"] = torch.cat([item.negative.pooled for item in run])

        if self.inpaint_unet:
            # A 9-channel UNet always wants a mask: white everywhere means "paint it all".
            pipe = self._inpaint
            if init is None:
                init = [Image.new("RGB", (width, height), (127, 127, 127))] * len(run)
            if masks is None:
                masks = [Image.new("L", (width, height), 255)] * len(run)
            kwargs.update(image=init, mask_image=masks, strength=strength, width=width, height=height)
        elif masks is not None:
            pipe = self._inpaint
            kwargs.update(image=init, mask_image=masks, strength=strength, width=width, height=height)
        elif init is not None:
            pipe = self._img2img
            image = torch.cat(init) if isinstance(init[0], torch.Tensor) else init
            kwargs.update(image=image, strength=strength)
        else:
            pipe = self._text2img
            kwargs.update(width=width, height=height)
        pipe.scheduler = scheduler
        try:
            images = pipe(**kwargs).images
        except UnusableSchedule:
            raise self._unusable_schedule(job) from None
        counter.end_phase()
        return list(_to_uint8(np.asarray(images)))


def _evaluations_to_run(job: GenerationJob, strength: float):
    """How many of a pipeline call's model evaluations to run, given its count: all of them, less
    what ``schedule.end`` cuts off. Of ``steps``, ``int(steps·start)`` are in range and the last
    ``int(steps·end)`` are skipped; second-order samplers evaluate about twice per step."""
    if job.schedule_end <= 0:
        return lambda evaluations: evaluations
    in_range = max(1, int(job.steps * strength)) if strength < 1.0 else job.steps
    run = max(1, in_range - int(job.steps * job.schedule_end))
    return lambda evaluations: max(1, -(-evaluations * run // in_range))
