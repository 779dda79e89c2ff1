"""Single-file checkpoints in the original layout, as model sites share them, loaded offline.

The files are tiny random-weight pipelines written by ``ldm_layout`` (the reverse of diffusers'
own converter); loading one through the engine must give back the folder's exact weights and
images. Broken or mismatched files must fail the engine with a message naming the file.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from _support import SAMPLER_SPECS, make_engine, one
from ldm_layout import UNET_PREFIX, VAE_PREFIX, write_single_file
from PIL import Image
from sfumato.engines import EngineConfig, EngineServices
from sfumato.testing import RequestBuilder, start_server
from sfumato_diffusers.engine import DiffusersEngine
from sfumato_diffusers.loading import ModelLoadError
from sfumato_diffusers.tiny import build_tiny_pipeline, build_tiny_xl_pipeline

COMPONENTS = ("unet", "vae", "text_encoder")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd", seed=3)


@pytest.fixture(scope="module")
def files(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("single")
    return {suffix: write_single_file(folder, where / f"tiny{suffix}") for suffix in (".safetensors", ".ckpt")}


@pytest.fixture(scope="module")
def folder_engine(folder: Path, cache_dir: str):
    return make_engine(str(folder), cache_dir)


def assert_same_weights(reference, loaded, components=COMPONENTS) -> None:
    for name in components:
        expected, got = getattr(reference, name).state_dict(), getattr(loaded, name).state_dict()
        assert expected.keys() == got.keys(), name
        differing = [key for key in expected if not torch.equal(expected[key], got[key])]
        assert not differing, f"{name}: {differing[:5]}"


def test_the_file_is_in_the_original_layout(files):
    from safetensors import safe_open

    with safe_open(str(files[".safetensors"]), "pt") as handle:
        keys = set(handle.keys())
        attention_q = handle.get_slice(VAE_PREFIX + "encoder.mid.attn_1.q.weight").get_shape()
    # The tiny UNet has two levels of one layer: conv_in, a layer, the downsampler, a layer going
    # down; four layers coming up, the first level's upsampler after its attention.
    for key in ("input_blocks.0.0.weight", "input_blocks.1.0.in_layers.2.weight", "input_blocks.2.0.op.weight",
                "input_blocks.3.1.proj_in.weight", "middle_block.1.transformer_blocks.0.attn2.to_k.weight",
                "output_blocks.1.2.conv.weight", "output_blocks.3.0.skip_connection.weight", "time_embed.2.bias",
                "out.2.weight"):
        assert UNET_PREFIX + key in keys, key
    assert UNET_PREFIX + "input_blocks.4.0.in_layers.0.weight" not in keys
    assert VAE_PREFIX + "decoder.up.3.upsample.conv.weight" in keys
    assert VAE_PREFIX + "decoder.up.0.upsample.conv.weight" not in keys  # the full-size level
    assert attention_q == [8, 8, 1, 1]  # the original VAE attention projects with 1x1 convolutions
    assert "cond_stage_model.transformer.text_model.embeddings.position_ids" in keys
    assert not [key for key in keys if "down_blocks" in key or "resnets" in key]


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_a_single_file_loads_the_folders_exact_weights_and_images(suffix, files, folder, folder_engine, cache_dir):
    single = make_engine(str(files[suffix]), cache_dir, config=str(folder))
    assert_same_weights(folder_engine.pipe, single.pipe)
    assert single.describe().native_width == folder_engine.describe().native_width == 64
    for seed, sampler in ((7, "SAMPLER_K_EULER"), (11, "SAMPLER_DDIM")):
        expected = one(folder_engine, seeds=[seed], sampler=sampler)
        got = one(single, seeds=[seed], sampler=sampler)
        assert expected.std() > 1.0 and np.array_equal(expected, got), (suffix, sampler)


def test_a_single_file_loads_in_the_configured_dtype(files, folder, cache_dir):
    # float16 is what CUDA runs by default; the weights must be the folder's, cast the same way.
    half_folder = make_engine(str(folder), cache_dir, device="cpu", dtype="float16")
    half_single = make_engine(str(files[".safetensors"]), cache_dir, device="cpu", dtype="float16", config=str(folder))
    assert half_single.pipe.unet.dtype == torch.float16
    assert_same_weights(half_folder.pipe, half_single.pipe)


def _two_layers_per_block(folder: Path, target: Path) -> Path:
    """The tiny pipeline with a deeper UNet: two layers per level instead of one."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    if not target.exists():
        pipe = StableDiffusionPipeline.from_pretrained(str(folder), local_files_only=True)
        torch.manual_seed(5)
        pipe.unet = UNet2DConditionModel.from_config({**pipe.unet.config, "layers_per_block": 2})
        pipe.save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def deeper(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _two_layers_per_block(folder, tmp_path_factory.mktemp("deeper") / "tiny-deeper")


@pytest.mark.parametrize("variant", ["two layers per block", "inpainting"])
def test_other_unet_shapes_round_trip_exactly(variant, deeper, cache_dir, tmp_path):
    # The layout is derived from the config, not written for one shape.
    source = deeper if variant != "inpainting" else build_tiny_pipeline(tmp_path / "inpaint", seed=1, inpaint=True)
    single = write_single_file(source, tmp_path / "variant.safetensors")
    reference = make_engine(str(source), cache_dir)
    loaded = make_engine(str(single), cache_dir, config=str(source))
    assert_same_weights(reference.pipe, loaded.pipe)
    assert loaded.inpaint_unet == (variant == "inpainting")


def test_a_misplaced_layer_changes_the_weights_the_comparison_sees(folder, folder_engine, cache_dir, tmp_path):
    # Two VAE decoder levels of the same shapes, swapped: the file still loads, so only the
    # weight comparison the tests above rely on can tell.
    def swap_levels(tensors):
        level = VAE_PREFIX + "decoder.up.{}.block."
        return {key.replace(level.format(1), level.format(2)) if level.format(1) in key
                else key.replace(level.format(2), level.format(1)): value for key, value in tensors.items()}

    swapped = write_single_file(folder, tmp_path / "swapped.safetensors", edit=swap_levels)
    engine = make_engine(str(swapped), cache_dir, config=str(folder))
    with pytest.raises(AssertionError, match="vae"):
        assert_same_weights(folder_engine.pipe, engine.pipe)
    assert_same_weights(folder_engine.pipe, engine.pipe, components=("unet", "text_encoder"))


# -- broken files ------------------------------------------------------------------------------

def _truncated(good: Path, target: Path) -> Path:
    data = good.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


class _RunsCode:
    """A pickle that runs a command when unpickled, as a hostile .ckpt can."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def broken_file(kind: str, files: dict[str, Path], where: Path) -> tuple[Path, str]:
    """A broken single file and a phrase the load error must contain."""
    if kind == "truncated safetensors":
        return _truncated(files[".safetensors"], where / "cut.safetensors"), "truncated"
    if kind == "truncated ckpt":
        return _truncated(files[".ckpt"], where / "cut.ckpt"), "failed reading zip archive"
    if kind == "not safetensors":
        (where / "noise.safetensors").write_bytes(np.random.default_rng(0).bytes(4096))
        return where / "noise.safetensors", "not a safetensors file"
    if kind == "git lfs pointer":
        pointer = where / "pointer.safetensors"
        pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 2132625894\n")
        return pointer, "git lfs pull"
    if kind == "uppercase suffix":  # diffusers would read it as a pickle
        upper = where / "tiny.SAFETENSORS"
        upper.write_bytes(files[".safetensors"].read_bytes())
        return upper, "rename it to end in .safetensors"
    if kind == "pickle that runs code":
        hostile = where / "hostile.ckpt"
        torch.save({"state_dict": {"x": torch.zeros(1)}, "callback": _RunsCode(where / "ran")}, hostile)
        return hostile, "never run"
    raise AssertionError(kind)


BROKEN = ["truncated safetensors", "truncated ckpt", "not safetensors", "git lfs pointer", "uppercase suffix",
          "pickle that runs code"]


@pytest.mark.parametrize("kind", BROKEN)
def test_a_broken_file_fails_the_load_naming_it(kind, files, folder, cache_dir, tmp_path):
    path, reason = broken_file(kind, files, tmp_path)
    with pytest.raises(ModelLoadError) as failure:
        make_engine(str(path), cache_dir, config=str(folder))
    message = str(failure.value)
    assert str(path) in message and reason.lower() in message.lower(), message
    assert "Traceback" not in message and len(message) < 700, message
    assert not (tmp_path / "ran").exists()  # the hostile pickle's command never ran


# -- files unlike options.config ---------------------------------------------------------------

def test_architecture_mismatches_fail_with_a_message_naming_both(folder, files, deeper, cache_dir, tmp_path_factory):
    where = tmp_path_factory.mktemp("mismatch")
    inpaint = write_single_file(build_tiny_pipeline(where / "inpaint", seed=1, inpaint=True),
                                where / "inpaint.safetensors")
    xl_folder = build_tiny_xl_pipeline(where / "xl", second_encoder_width=24)
    xl_file = write_single_file(xl_folder, where / "xl.safetensors")
    # A file whose last UNet layer is missing (diffusers would leave it empty, meta).
    fewer = write_single_file(folder, where / "fewer.safetensors",
                              edit=lambda tensors: {k: v for k, v in tensors.items() if ".output_blocks.3." not in k})
    deeper_file = write_single_file(deeper, where / "deeper.safetensors")
    # diffusers loads the text encoders without checking for missing weights: the engine checks.
    xl_unprojected = write_single_file(xl_folder, where / "xl-unprojected.safetensors",
                                       edit=lambda tensors: {k: v for k, v in tensors.items()
                                                             if not k.endswith("text_projection")})
    cases = [
        (inpaint, folder, "expected shape torch.Size([16, 4, 3, 3]), but got torch.Size([16, 9, 3, 3])"),
        (deeper_file, folder, "expected shape"),  # more layers per block than the config
        (files[".safetensors"], deeper, "expected shape"),  # fewer

        (xl_file, folder, "is an SDXL model but options.config"),
        (files[".safetensors"], xl_folder, "is an SD 1.x/2.x model but options.config"),
        # A .ckpt's header cannot be peeked: diffusers meets the difference while converting.
        (files[".ckpt"], xl_folder, "expected shape"),
        (fewer, folder, "lacks weights"),
        (xl_unprojected, xl_folder, "has no weights for text_encoder_2: 1 (e.g. text_projection.weight)"),
    ]
    for path, config, reason in cases:
        with pytest.raises(ModelLoadError) as failure:
            make_engine(str(path), cache_dir, config=str(config))
        message = str(failure.value)
        assert str(path) in message and str(config) in message and reason in message, message


def test_before_loading_the_engine_describes_the_model_from_options_config(files, folder, cache_dir):
    config = EngineConfig(id="single", kind="diffusers", model=str(files[".ckpt"]), options={"config": str(folder)})
    unloaded = DiffusersEngine(config, EngineServices(samplers=SAMPLER_SPECS, cache_dir=cache_dir))
    assert unloaded.pipe is None and unloaded.describe().native_width == 64  # not the 512 of an unknown file


def test_offline_without_options_config_the_error_says_to_set_it(files, cache_dir):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # conftest: no test reaches the network
    with pytest.raises(ModelLoadError) as failure:
        make_engine(str(files[".safetensors"]), cache_dir)
    message = str(failure.value)
    assert str(files[".safetensors"]) in message and "set options.config to a local diffusers folder" in message


def test_options_config_must_be_a_diffusers_folder(files, cache_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        make_engine(str(files[".safetensors"]), cache_dir, config=str(tmp_path / "missing"))
    with pytest.raises(ModelLoadError, match="no model_index.json"):
        make_engine(str(files[".safetensors"]), cache_dir, config=str(tmp_path))


# -- SDXL --------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])  # a .ckpt is known as SDXL from options.config
def test_an_sdxl_single_file_loads_the_folders_exact_weights_and_images(suffix, cache_dir, tmp_path_factory):
    where = tmp_path_factory.mktemp("xl-single")
    # Encoders of different widths, as in real SDXL: the loader tells them apart by width.
    xl_folder = build_tiny_xl_pipeline(where / "tiny-xl", second_encoder_width=24)
    xl_file = write_single_file(xl_folder, where / f"tiny-xl{suffix}")
    reference = make_engine(str(xl_folder), cache_dir)
    single = make_engine(str(xl_file), cache_dir, config=str(xl_folder))
    assert single._xl and type(single.pipe).__name__ == "StableDiffusionXLPipeline"
    assert_same_weights(reference.pipe, single.pipe, components=(*COMPONENTS, "text_encoder_2"))
    expected, got = one(reference, seeds=[4]), one(single, seeds=[4])
    assert expected.std() > 1.0 and np.array_equal(expected, got)


# -- through the server ------------------------------------------------------------------------

SERVER_CONFIG = """
[quotas]
requests_per_minute = 0

[[engines]]
id = "folder"
kind = "diffusers"
model = "{folder}"
options = {{ batch_mode = "sequential" }}

[[engines]]
id = "single"
kind = "diffusers"
model = "{single}"
options = {{ config = "{folder}", batch_mode = "sequential" }}

[[engines]]
id = "broken"
kind = "diffusers"
model = "{broken}"
options = {{ config = "{folder}" }}

[[engines]]
id = "test-pattern"
kind = "test-pattern"
"""


def _pixels(answer: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["artifacts"][0]["binary"]))))


@pytest.mark.slow  # a server loading three engines
def test_the_server_serves_a_single_file_and_reports_a_broken_one(folder, files, tmp_path):
    broken = _truncated(files[".safetensors"], tmp_path / "broken.safetensors")
    config = SERVER_CONFIG.format(folder=folder, single=files[".safetensors"], broken=broken)
    server = start_server(tmp_path, config=config, plugins=["diffusers", "test_pattern"], wait_ready=False)
    try:
        report = server.engines_settled()
        assert report["single"]["ready"] and report["folder"]["ready"], report
        assert str(broken) in report["broken"]["error"] and "truncated" in report["broken"]["error"]

        def request(engine: str) -> dict:
            return RequestBuilder().engine(engine).prompt("a red cat").size(64, 64).seeds(5).steps(4).build()

        (from_folder,), (from_file,) = server.generate(request("folder")), server.generate(request("single"))
        assert np.array_equal(_pixels(from_folder), _pixels(from_file))
        refused = server.post("/grpcgateway/generate", request("broken"))
        assert refused.status_code == 503 and refused.json()["code"] == 14
        message = refused.json()["message"]
        assert "failed to load" in message and str(broken) in message and "Traceback" not in message
        assert len(server.generate(RequestBuilder().engine("test-pattern").prompt("ok").size(16, 16).build())) == 1
    finally:
        server.stop()
