"""Non-image outputs, latent and token prompts, schedule.end and cfg schedules on tiny-sd, over the API.

Every answer is decoded here with numpy and checked against independent references: the
model's own VAE, tokenizer and text encoder loaded from the engine's cache folder.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sfumato.testing import RequestBuilder, RunningServer, start_server
from tests.conftest import decode_png

pytestmark = pytest.mark.torch

CONFIG = """
[quotas]
requests_per_minute = 0

[[engines]]
id = "tiny-sd"
kind = "diffusers"
model = "tiny-sd"
default_steps = 4

[[engines]]
id = "test-pattern"
kind = "test-pattern"
"""
SIZE = 64
DTYPES = {"DT_FLOAT32": "<f4", "DT_FLOAT16": "<f2", "DT_FLOAT64": "<f8"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    folder = tmp_path_factory.mktemp("outputs")
    server = start_server(folder, config=CONFIG, plugins=["diffusers", "test_pattern"])
    yield server, folder / "cache" / "tiny-sd"
    server.stop()


def request(prompt: str = "a red cat", seed: int = 5, **extra: Any) -> dict[str, Any]:
    body = RequestBuilder().engine("tiny-sd").prompt(prompt).size(SIZE, SIZE).seeds(seed).steps(4).cfg_scale(6.0).build()
    body.update(extra)
    return body


def artifact(answer: dict) -> dict:
    (only,) = answer["artifacts"]
    return only


def image_of(answer: dict) -> np.ndarray:
    return decode_png(base64.b64decode(artifact(answer)["binary"]))


def tensor_of(wire: dict) -> np.ndarray:
    """Decode a tensors.Tensor as its proto defines it: raw little-endian bytes, int64 shape as strings."""
    data = base64.b64decode(wire["data"])
    return np.frombuffer(data, dtype=DTYPES[wire["dtype"]]).reshape([int(dim) for dim in wire["shape"]])


def wire_tensor(array: np.ndarray, dtype: str = "DT_FLOAT32") -> dict:
    data = np.ascontiguousarray(array, dtype=DTYPES.get(dtype, "<f4")).tobytes()
    return {"dtype": dtype, "shape": [str(dim) for dim in array.shape], "data": base64.b64encode(data).decode()}


def latent_prompt(array: np.ndarray, kind: str = "ARTIFACT_LATENT", dtype: str = "DT_FLOAT32") -> dict:
    return {"artifact": {"type": kind, "tensor": wire_tensor(array, dtype)}}


def refused(server: RunningServer, body: dict) -> dict:
    response = server.post("/grpcgateway/generate", body)
    assert response.status_code in (400, 501), response.text[:300]
    return {"status": response.status_code, **response.json()}


@pytest.fixture(scope="module")
def vae(served):
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(served[1] / "vae", local_files_only=True).eval()


def decode_with_vae(vae, latent: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        pixels = vae.decode(torch.from_numpy(latent.copy()) / vae.config.scaling_factor).sample
    pixels = ((pixels[0].permute(1, 2, 0).numpy() / 2 + 0.5).clip(0, 1) * 255).round().astype(np.uint8)
    return pixels


# ---- non-image outputs ----


@pytest.mark.parametrize("kind", ["ARTIFACT_LATENT", "ARTIFACT_TENSOR"])
def test_latent_output_decodes_through_the_vae_to_the_image_answer(served, vae, kind):
    server, _ = served
    image = image_of(server.generate(request(seed=11))[0])
    answer = artifact(server.generate(request(seed=11, requestedType=kind))[0])
    assert answer["type"] == kind and "binary" not in answer
    latent = tensor_of(answer["tensor"])
    assert latent.dtype == np.float32 and latent.shape == (1, 4, SIZE // 8, SIZE // 8)
    decoded = decode_with_vae(vae, latent)
    assert np.abs(decoded.astype(int) - image.astype(int)).max() <= 1


def test_tokens_output_matches_the_model_tokenizer(served):
    from transformers import CLIPTokenizer

    server, folder = served
    answers = server.generate(request("a red cat", requestedType="ARTIFACT_TOKENS"))
    tokens = artifact(answers[0])
    assert tokens["type"] == "ARTIFACT_TOKENS"
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    expected = tokenizer("a red cat", add_special_tokens=False).input_ids
    assert [token["id"] for token in tokens["tokens"]["tokens"]] == expected
    assert [token["text"] for token in tokens["tokens"]["tokens"]] == tokenizer.convert_ids_to_tokens(expected)
    assert tokens["tokens"]["tokenizerId"].startswith(f"CLIPTokenizer-{len(tokenizer)}-")


def test_embedding_output_is_the_text_encoder_hidden_state(served):
    import torch
    from transformers import CLIPTextModel, CLIPTokenizer

    server, folder = served
    answer = artifact(server.generate(request("a red cat", requestedType="ARTIFACT_EMBEDDING"))[0])
    embedding = tensor_of(answer["tensor"])
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", local_files_only=True).eval()
    ids = tokenizer("a red cat", padding="max_length", max_length=tokenizer.model_max_length).input_ids
    with torch.no_grad():
        reference = encoder(torch.tensor([ids]))[0].numpy()
    assert embedding.shape == reference.shape
    np.testing.assert_allclose(embedding, reference, atol=1e-5)


def test_mask_output_is_the_final_composite_mask(served):
    server, _ = served
    init = np.full((SIZE, SIZE, 3), 90, np.uint8)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[:, : SIZE // 2] = 255
    body = (
        RequestBuilder().engine("tiny-sd").prompt("a cat").size(SIZE, SIZE).seeds(1).steps(2)
        .init_image(png(init)).mask(png(mask), post_adjustments=[{"invert": {}}]).build()
    )
    body["requestedType"] = "ARTIFACT_MASK"
    answer = artifact(server.generate(body)[0])
    assert answer["type"] == "ARTIFACT_MASK" and answer["mime"] == "image/png"
    with Image.open(io.BytesIO(base64.b64decode(answer["binary"]))) as decoded:
        got = np.asarray(decoded.convert("L"))
    assert np.array_equal(got, 255 - mask)  # the post-adjusted (inverted) mask is the one composited


def test_non_image_outputs_a_model_cannot_make_are_precise_501s(served):
    server, _ = served
    body = request(requestedType="ARTIFACT_CLASSIFICATIONS")
    error = refused(server, body)
    assert error["status"] == 501 and "ARTIFACT_CLASSIFICATIONS" in error["message"]
    pattern = dict(request(requestedType="ARTIFACT_LATENT"), engineId="test-pattern")
    error = refused(server, pattern)
    assert error["status"] == 501 and "'test-pattern' cannot return ARTIFACT_LATENT" in error["message"]
    error = refused(server, request(requestedType="ARTIFACT_MASK"))
    assert error["status"] == 400 and "sends no mask" in error["message"]
    error = refused(server, request(requestedType="ARTIFACT_VIDEO"))
    assert error["status"] == 501 and "requestedType" in error["message"]


# ---- latent prompts ----


def test_latent_prompt_round_trips_and_seeds_img2img(served):
    server, _ = served
    original = image_of(server.generate(request(seed=21))[0])
    latent = tensor_of(artifact(server.generate(request(seed=21, requestedType="ARTIFACT_LATENT"))[0])["tensor"])
    body = request(seed=3)
    body["prompt"].append(latent_prompt(latent))
    # start 0 runs no step: the answer is the latent decoded, i.e. the original image.
    back = RequestBuilder().strength(0.0).build()["image"]["parameters"]
    untouched = dict(body, image=dict(body["image"], parameters=back))
    assert np.array_equal(image_of(server.generate(untouched)[0]), original)
    # start 0.5 re-runs half the schedule from the latent: close to the original, not equal.
    half = dict(body, image=dict(body["image"], parameters=RequestBuilder().strength(0.5).build()["image"]["parameters"]))
    changed = image_of(server.generate(half)[0])
    unrelated = image_of(server.generate(request(seed=3))[0])
    assert not np.array_equal(changed, original)
    distance = lambda a, b: np.abs(a.astype(float) - b.astype(float)).mean()  # noqa: E731
    assert distance(changed, original) < distance(unrelated, original)


@pytest.mark.parametrize(
    ("array", "dtype", "field", "words"),
    [
        (np.zeros((3, 8, 8), np.float32), "DT_FLOAT32", "prompt[1].artifact.tensor.shape", "4 latent channels"),
        (np.zeros((2, 4, 8, 8), np.float32), "DT_FLOAT32", "prompt[1].artifact.tensor.shape", "[channels, height, width]"),
        (np.zeros((4, 8, 8), np.int32), "DT_INT32", "prompt[1].artifact.tensor.dtype", "DT_FLOAT32"),
        (np.zeros((4, 6, 8), np.float32), "DT_FLOAT32", "image.height", "does not match the initial latent"),
        (np.full((4, 8, 8), np.nan, np.float32), "DT_FLOAT32", "prompt[1].artifact.tensor.data", "finite"),
    ],
)
def test_bad_latent_prompts_are_400s_naming_the_field(served, array, dtype, field, words):
    server, _ = served
    body = request()
    tensor = wire_tensor(array, dtype)
    if dtype == "DT_INT32":
        tensor["data"] = base64.b64encode(array.astype("<i4").tobytes()).decode()
    body["prompt"].append({"artifact": {"type": "ARTIFACT_LATENT", "tensor": tensor}})
    error = refused(server, body)
    assert error["status"] == 400 and error["message"].startswith(field) and words in error["message"], error


def test_latent_data_that_does_not_fit_its_shape_is_a_400(served):
    server, _ = served
    body = request()
    tensor = wire_tensor(np.zeros((4, 8, 8), np.float32))
    tensor["shape"] = ["4", "8", "9"]
    body["prompt"].append({"artifact": {"type": "ARTIFACT_TENSOR", "tensor": tensor}})
    error = refused(server, body)
    assert error["status"] == 400 and "prompt[1].artifact.tensor" in error["message"] and "bytes" in error["message"]


def test_latent_prompt_on_an_engine_without_latents_is_a_501(served):
    server, _ = served
    body = dict(request(), engineId="test-pattern")
    body["prompt"].append(latent_prompt(np.zeros((4, 8, 8), np.float32)))
    error = refused(server, body)
    assert error["status"] == 501 and "does not take latents" in error["message"]


# ---- token prompts ----


def token_prompt(ids: list[int], tokenizer_id: str | None = None, weight: float | None = None) -> dict:
    tokens: dict[str, Any] = {"tokens": [{"id": i} for i in ids]}
    if tokenizer_id is not None:
        tokens["tokenizerId"] = tokenizer_id
    prompt: dict[str, Any] = {"tokens": tokens}
    if weight is not None:
        prompt["parameters"] = {"weight": weight}
    return prompt


def test_token_prompt_gives_the_same_image_as_its_text(served):
    server, _ = served
    tokens = artifact(server.generate(request("a red cat", requestedType="ARTIFACT_TOKENS"))[0])["tokens"]
    ids = [token["id"] for token in tokens["tokens"]]
    by_text = image_of(server.generate(request("a red cat", seed=8))[0])
    body = request(seed=8)
    body["prompt"] = [token_prompt(ids, tokens["tokenizerId"])]
    assert np.array_equal(image_of(server.generate(body)[0]), by_text)
    # Mixed: a text and a token prompt both count.
    mixed = request("a blue sky", seed=8)
    mixed["prompt"].append(token_prompt(ids))
    mixed_image = image_of(server.generate(mixed)[0])
    sky = image_of(server.generate(request("a blue sky", seed=8))[0])
    assert not np.array_equal(mixed_image, by_text) and not np.array_equal(mixed_image, sky)


def test_bad_token_prompts_are_400s(served):
    server, _ = served
    body = request()
    body["prompt"] = [token_prompt([2, 10**6])]
    error = refused(server, body)
    assert error["status"] == 400 and "token id 1000000 is outside the vocabulary" in error["message"]
    body["prompt"] = [token_prompt([2, 3], tokenizer_id="gpt2")]
    error = refused(server, body)
    assert error["status"] == 400 and "tokenizerId" in error["message"] and "gpt2" in error["message"]
    body["prompt"] = [token_prompt([])]
    error = refused(server, body)
    assert error["status"] == 400 and "prompt[0].tokens" in error["message"]
    pattern = dict(request(), engineId="test-pattern", prompt=[token_prompt([2, 3])])
    error = refused(server, pattern)
    assert error["status"] == 501 and "text only" in error["message"]


# ---- schedules ----


def with_parameters(body: dict, parameters: list[dict]) -> dict:
    return dict(body, image=dict(body["image"], parameters=parameters))


def test_schedule_end_stops_early(served):
    server, _ = served
    full = tensor_of(artifact(server.generate(request(seed=4, requestedType="ARTIFACT_LATENT"))[0])["tensor"])
    early_body = with_parameters(request(seed=4, requestedType="ARTIFACT_LATENT"),
                                 [{"sampler": {"cfgScale": 6.0}, "schedule": {"end": 0.5}}])
    early = tensor_of(artifact(server.generate(early_body)[0])["tensor"])
    again = tensor_of(artifact(server.generate(early_body)[0])["tensor"])
    assert np.array_equal(early, again) and not np.allclose(early, full)
    # That it is the full run's latent after step 2 is checked against diffusers in the plugin's tests.
    image_body = dict(early_body, requestedType="ARTIFACT_IMAGE")
    assert image_of(server.generate(image_body)[0]).shape == (SIZE, SIZE, 3)


def test_bad_schedule_ends_are_400s(served):
    server, _ = served
    from_latent = request()
    from_latent["prompt"].append(latent_prompt(np.zeros((4, 8, 8), np.float32)))
    error = refused(server, with_parameters(from_latent, [{"schedule": {"start": 0.5, "end": 0.6}}]))
    assert error["status"] == 400 and "schedule.end" in error["message"] and "below schedule.start" in error["message"]
    # 4 steps: start 0.6 puts int(2.4) = 2 in range, end 0.55 skips the last int(2.2) = 2.
    error = refused(server, with_parameters(from_latent, [{"schedule": {"start": 0.6, "end": 0.55}}]))
    assert error["status"] == 400 and "leave no step" in error["message"]
    error = refused(server, with_parameters(request(), [{"schedule": {"end": 1.5}}]))
    assert error["status"] == 400 and "image.parameters[0].schedule.end" in error["message"]


def test_cfg_schedule_over_scaled_steps(served):
    server, _ = served

    def run(parameters: list[dict]) -> np.ndarray:
        return image_of(server.generate(with_parameters(request(seed=9), parameters))[0])

    constant = run([{"sampler": {"cfgScale": 3.0}}])
    flat = run([{"scaledStep": 0, "sampler": {"cfgScale": 3.0}}, {"scaledStep": 1, "sampler": {"cfgScale": 3.0}}])
    assert np.array_equal(constant, flat)
    rising = run([{"scaledStep": 0, "sampler": {"cfgScale": 3.0}}, {"scaledStep": 1, "sampler": {"cfgScale": 15.0}}])
    high = run([{"sampler": {"cfgScale": 15.0}}])
    assert not np.array_equal(rising, constant) and not np.array_equal(rising, high)


def test_bad_step_schedules_are_400s(served):
    server, _ = served
    low = [{"scaledStep": 0, "sampler": {"cfgScale": 1.0}}, {"scaledStep": 1, "sampler": {"cfgScale": 7.0}}]
    error = refused(server, with_parameters(request(), low))
    assert error["status"] == 400 and "image.parameters[0].sampler.cfgScale" in error["message"] and "above 1" in error["message"]
    error = refused(server, with_parameters(request(), [{"scaledStep": 2, "sampler": {"cfgScale": 7.0}}]))
    assert error["status"] == 400 and "image.parameters[0].scaledStep" in error["message"]
    clash = [{"scaledStep": 0.5, "sampler": {"cfgScale": 4.0}}, {"scaledStep": 0.5, "sampler": {"cfgScale": 8.0}},
             {"scaledStep": 1, "sampler": {"cfgScale": 8.0}}]
    error = refused(server, with_parameters(request(), clash))
    assert error["status"] == 400 and "image.parameters[1].sampler.cfgScale" in error["message"]
    varying = [{"scaledStep": 0, "sampler": {"eta": 0.1}}, {"scaledStep": 1, "sampler": {"eta": 0.5}}]
    error = refused(server, with_parameters(request(), varying))
    assert error["status"] == 400 and "only sampler.cfgScale can change" in error["message"]


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_tensor_json_follows_the_proto_mapping(served):
    # int64 shape entries as strings, data as base64, as the API page's JSON mapping writes them.
    server, _ = served
    tensor = artifact(server.generate(request(requestedType="ARTIFACT_LATENT"))[0])["tensor"]
    assert tensor["shape"] == ["1", "4", str(SIZE // 8), str(SIZE // 8)] and tensor["dtype"] == "DT_FLOAT32"
    assert len(base64.b64decode(tensor["data"])) == 4 * 4 * (SIZE // 8) ** 2


# ---- prompt weights ----


def test_a_lone_fragment_weight_scales_the_departure_from_the_empty_prompt(served):
    import torch
    from transformers import CLIPTextModel, CLIPTokenizer

    server, folder = served
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", local_files_only=True).eval()

    def reference(text: str) -> np.ndarray:
        ids = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length).input_ids
        with torch.no_grad():
            return encoder(torch.tensor([ids]))[0].numpy()

    text, empty = reference("a red cat"), reference("")
    for weight in (0.5, 2.0):
        body = request(requestedType="ARTIFACT_EMBEDDING")
        body["prompt"][0]["parameters"] = {"weight": weight}
        embedding = tensor_of(artifact(server.generate(body)[0])["tensor"])
        np.testing.assert_allclose(embedding, empty + weight * (text - empty), atol=1e-4)
    halved = request(seed=2)
    halved["prompt"][0]["parameters"] = {"weight": 0.5}
    assert not np.array_equal(image_of(server.generate(halved)[0]), image_of(server.generate(request(seed=2))[0]))


# ---- CLIP guidance ----


def test_clip_guidance_changes_the_image_and_is_refused_where_it_cannot_run(served):
    server, _ = served
    plain = image_of(server.generate(request(seed=6))[0])
    guided_body = with_parameters(request(seed=6), [{"sampler": {"cfgScale": 6.0},
                                                     "guidance": {"instances": [{"guidanceStrength": 5.0}]}}])
    guided = image_of(server.generate(guided_body)[0])
    assert not np.array_equal(plain, guided)
    preset = with_parameters(request(seed=6), [{"guidance": {"guidancePreset": "GUIDANCE_PRESET_SLOWEST"}}])
    assert image_of(server.generate(preset)[0]).shape == (SIZE, SIZE, 3)
    ddim = dict(guided_body, image=dict(guided_body["image"], transform={"diffusion": "SAMPLER_DDIM"}))
    error = refused(server, ddim)
    assert error["status"] == 501 and "σ" in error["message"]
    error = refused(server, dict(guided_body, engineId="test-pattern"))
    assert error["status"] == 501 and "CLIP guidance" in error["message"]
