"""Generate on the test-pattern engine through a real server."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid

import numpy as np
from PIL import Image, ImageOps

from sfumato.testing import RequestBuilder, parse_stream
from tests.conftest import decode_png, png_bytes


def image_of(answer: dict) -> np.ndarray:
    return decode_png(base64.b64decode(answer["artifacts"][0]["binary"]))


def test_generate_streams_one_answer_per_sample_with_real_seeds(server):
    body = RequestBuilder().request_id("req-1").prompt("a lighthouse").size(64, 48).samples(3).seeds(10).build()
    response = server.post("/grpcgateway/generate", body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.content.splitlines()
    assert len(lines) == 3 and all(line.startswith(b'{"result":') for line in lines)
    answers, error = parse_stream(response.content)
    assert error is None
    assert [a["answerId"] for a in answers] == ["req-1-0", "req-1-1", "req-1-2"]
    seeds = [a["artifacts"][0].get("seed", 0) for a in answers]
    assert seeds == [10, 11, 12]
    for index, answer in enumerate(answers):
        artifact = answer["artifacts"][0]
        assert answer["requestId"] == "req-1"
        assert answer["meta"]["engineId"] == "test-pattern"
        assert int(answer["created"]) >= int(answer["received"]) > 1_600_000_000_000
        assert artifact["type"] == "ARTIFACT_IMAGE" and artifact["mime"] == "image/png"
        assert artifact.get("index", 0) == index
        assert int(artifact["size"]) == len(base64.b64decode(artifact["binary"]))
        assert uuid.UUID(artifact["uuid"]).version == 4
        assert image_of(answer).shape == (48, 64, 3)


def test_a_finished_answer_reports_its_queue_and_engine_time(server):
    body = RequestBuilder().prompt("timed").size(16, 16).steps(4).extension("step_delay_ms", 50).build()
    began = time.monotonic()
    response = server.post("/grpcgateway/generate", body)
    latency_ms = (time.monotonic() - began) * 1000
    assert response.status_code == 200
    timing = dict(
        (name.strip(), float(duration.removeprefix("dur=")))
        for name, duration in (part.split(";") for part in response.headers["server-timing"].split(","))
    )
    assert set(timing) == {"queue", "engine"}
    assert 0 <= timing["queue"] < latency_ms
    assert 4 * 50 <= timing["engine"] < latency_ms  # four delayed steps, and less than the whole request


def test_generated_png_carries_parameters_without_binaries(server):
    answers = server.generate(RequestBuilder().prompt("a cat", 1.0).prompt("blurry", -0.5).seeds(5).size(32, 32).build())
    with Image.open(io.BytesIO(base64.b64decode(answers[0]["artifacts"][0]["binary"]))) as image:
        parameters = json.loads(image.text["sfumato"])
    assert parameters["prompt"] == [["a cat", 1.0]]
    assert parameters["negative_prompt"] == [["blurry", 0.5]]
    assert parameters["seed"] == 5 and parameters["width"] == 32


def test_same_seed_same_image_different_seed_differs(server):
    def run(seed: int) -> np.ndarray:
        return image_of(server.generate(RequestBuilder().prompt("waves").size(64, 64).seeds(seed).build())[0])

    first, again, other = run(1), run(1), run(2)
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 10


def test_prompt_text_changes_the_image(server):
    a = image_of(server.generate(RequestBuilder().prompt("red").size(32, 32).seeds(3).build())[0])
    b = image_of(server.generate(RequestBuilder().prompt("blue").size(32, 32).seeds(3).build())[0])
    assert not np.array_equal(a, b)


def test_samples_equal_single_runs(server):
    batch = server.generate(RequestBuilder().prompt("x").size(32, 32).samples(3).seeds(40).build())
    for offset, answer in enumerate(batch):
        single = server.generate(RequestBuilder().prompt("x").size(32, 32).seeds(40 + offset).build())[0]
        assert np.array_equal(image_of(answer), image_of(single))


def test_random_seed_is_reported_and_reproduces(server):
    answer = server.generate(RequestBuilder().prompt("random").size(32, 32).build())[0]
    seed = answer["artifacts"][0].get("seed", 0)
    again = server.generate(RequestBuilder().prompt("random").size(32, 32).seeds(seed).build())[0]
    assert np.array_equal(image_of(answer), image_of(again))


def test_init_image_strength_zero_returns_init_and_one_ignores_it(server, rng):
    init = rng.integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    keep = server.generate(RequestBuilder().prompt("p").init_image(png_bytes(init)).strength(0.0).seeds(1).build())[0]
    assert np.array_equal(image_of(keep), init)
    fresh = server.generate(RequestBuilder().prompt("p").init_image(png_bytes(init)).strength(1.0).seeds(1).build())[0]
    plain = server.generate(RequestBuilder().prompt("p").size(48, 32).seeds(1).build())[0]
    assert np.array_equal(image_of(fresh), image_of(plain))


def test_black_mask_returns_init_exactly_and_white_regenerates(server, rng):
    init = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    black = np.zeros((32, 32), dtype=np.uint8)
    kept = server.generate(RequestBuilder().prompt("p").init_image(png_bytes(init)).mask(png_bytes(black)).strength(1.0).build())[0]
    assert np.array_equal(image_of(kept), init)
    half = black.copy()
    half[:, 16:] = 255
    mixed = image_of(server.generate(
        RequestBuilder().prompt("p").init_image(png_bytes(init)).mask(png_bytes(half)).strength(1.0).seeds(9).build())[0])
    plain = image_of(server.generate(RequestBuilder().prompt("p").size(32, 32).seeds(9).build())[0])
    assert np.array_equal(mixed[:, :16], init[:, :16])
    assert np.array_equal(mixed[:, 16:], plain[:, 16:])


def test_mask_adjustments_apply_before_compositing(server, rng):
    init = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    white = np.full((16, 16), 255, dtype=np.uint8)
    inverted = [{"invert": {}}]
    kept = server.generate(
        RequestBuilder().prompt("p").init_image(png_bytes(init)).mask(png_bytes(white), adjustments=inverted).strength(1.0).build()
    )[0]
    assert np.array_equal(image_of(kept), init)
    post = server.generate(
        RequestBuilder().prompt("p").init_image(png_bytes(init)).mask(png_bytes(white), post_adjustments=inverted).strength(1.0).build()
    )[0]
    assert np.array_equal(image_of(post), init)


def test_init_image_adjustments_are_applied(server, rng):
    init = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    answer = server.generate(
        RequestBuilder().prompt("p").init_image(png_bytes(init), adjustments=[{"invert": {}}]).strength(0.0).build()
    )[0]
    assert np.array_equal(image_of(answer), 255 - init)


def test_tiling_makes_a_periodic_image(server):
    def seam_ratio(tiled: bool) -> float:
        pixels = image_of(server.generate(RequestBuilder().prompt("t").size(64, 64).seeds(4).tiling(tiled).build())[0]).astype(float)
        interior = np.abs(np.diff(pixels, axis=1)).mean()
        wrap = np.abs(pixels[:, 0] - pixels[:, -1]).mean()
        return wrap / interior

    assert seam_ratio(True) < 2.0
    assert seam_ratio(False) > 3.0


def test_snake_case_and_enum_numbers_are_accepted(server):
    body = {
        "engine_id": "test-pattern",
        "request_id": "snake",
        "prompt": [{"text": "x"}],
        "image": {"width": 32, "height": 32, "seed": [7], "transform": {"diffusion": 3}, "samples": "1"},
    }
    answer = server.generate(body)[0]
    assert answer["requestId"] == "snake"
    camel = server.generate(
        RequestBuilder().prompt("x").size(32, 32).seeds(7).sampler("SAMPLER_K_EULER_ANCESTRAL").build()
    )[0]
    assert np.array_equal(image_of(answer), image_of(camel))


def test_sampler_and_eta_change_the_image(server):
    def run(**options) -> np.ndarray:
        builder = RequestBuilder().prompt("s").size(32, 32).seeds(5).sampler(options["sampler"])
        if "eta" in options:
            builder._step_parameter().setdefault("sampler", {})["eta"] = options["eta"]
        return image_of(server.generate(builder.build())[0])

    euler = run(sampler="SAMPLER_K_EULER")
    ddim = run(sampler="SAMPLER_DDIM")
    assert not np.array_equal(euler, ddim)
    assert not np.array_equal(run(sampler="SAMPLER_K_EULER_ANCESTRAL", eta=0.2), run(sampler="SAMPLER_K_EULER_ANCESTRAL", eta=1.0))


def test_request_id_is_generated_when_missing(server):
    answer = server.generate(RequestBuilder().prompt("x").size(16, 16).build())[0]
    request_id = answer["requestId"]
    assert uuid.UUID(request_id) and answer["answerId"] == f"{request_id}-0"


def test_default_engine_and_default_size(server):
    answer = server.generate({"prompt": [{"text": "defaults"}], "image": {"steps": 2}})[0]
    assert answer["meta"]["engineId"] == "test-pattern"
    assert image_of(answer).shape == (512, 512, 3)


def test_line_wrapped_base64_init_image_is_accepted(server, rng):
    init = rng.integers(0, 256, size=(24, 40, 3), dtype=np.uint8)
    for wrapped in (base64.encodebytes(png_bytes(init)).decode(),  # MIME style: 76 characters and "\n"
                    base64.encodebytes(png_bytes(init)).decode().replace("\n", "\r\n")):
        body = RequestBuilder().prompt("p").init_image(png_bytes(init)).strength(0.0).build()
        body["prompt"][1]["artifact"]["binary"] = wrapped
        assert np.array_equal(image_of(server.generate(body)[0]), init)


def test_init_image_exif_orientation_is_applied(server, rng):
    stored = rng.integers(0, 256, size=(32, 48, 3), dtype=np.uint8)  # 48 wide, 32 high as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view", as phones write it
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, "JPEG", exif=exif.tobytes(), quality=95)
    jpeg = buffer.getvalue()
    with Image.open(io.BytesIO(jpeg)) as image:
        upright = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    assert upright.shape == (48, 32, 3)
    answer = server.generate(RequestBuilder().prompt("p").init_image(jpeg).strength(0.0).build())[0]
    assert np.array_equal(image_of(answer), upright)


def test_init_image_alpha_can_drive_the_mask_as_documented(server, rng):
    # docs/api.md: alpha is dropped from the init image; the same PNG as the mask, with its
    # alpha moved to red and inverted, regenerates exactly the transparent part.
    init = rng.integers(0, 256, size=(16, 32, 4), dtype=np.uint8)
    init[:, :, 3] = 255
    init[:, 16:, 3] = 0
    png = png_bytes(init)
    alpha_to_mask = [{"channels": {"r": "CHANNEL_A"}}, {"invert": {}}]
    body = RequestBuilder().prompt("p").init_image(png).mask(png, adjustments=alpha_to_mask).strength(1.0).seeds(3).build()
    result = image_of(server.generate(body)[0])
    plain = image_of(server.generate(RequestBuilder().prompt("p").size(32, 16).seeds(3).build())[0])
    assert np.array_equal(result[:, :16], init[:, :16, :3])
    assert np.array_equal(result[:, 16:], plain[:, 16:])
