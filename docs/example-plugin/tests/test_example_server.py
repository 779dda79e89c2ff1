"""The example plugin through HTTP, on a real ``sfumato serve`` that loads only this plugin.

``sfumato_server_factory`` and ``request_builder`` come from ``sfumato.testing``
(a pytest plugin installed with sfumato); the servers run in strict mode, so a
plugin that fails to load fails the test instead of being skipped.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest


from PIL import Image  # noqa: E402
from sfumato.engines import EngineConfig, EngineServices  # noqa: E402
from sfumato.jobs.job import GenerationJob, ImageTask, SamplerSettings, WeightedText  # noqa: E402
from sfumato.plugins import load_plugins  # noqa: E402
from sfumato.testing import start_server  # noqa: E402
from sfumato_example import plugin  # noqa: E402
from sfumato_example.engine import GradientEngine  # noqa: E402
from sfumato_example.sepia import apply_sepia  # noqa: E402
from sfumato_example.sepia_params import SepiaParams  # noqa: E402

CONFIG = """
[server]
default_engine = "gradient"

[[engines]]
id = "gradient"
kind = "gradient"
name = "Gradient"
default_steps = 4
[engines.limits]
max_width = 256
max_height = 256
max_pixels = 65536

[[engines]]
id = "gradient-slow"
kind = "gradient"
options = { step_delay_ms = 100 }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module: starting one per test would cost a second each."""
    running = start_server(tmp_path_factory.mktemp("example"), config=CONFIG, plugins=["example"])
    yield running
    running.stop()


def png_of(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def pixels_of(answer: dict) -> np.ndarray:
    data = base64.b64decode(answer["artifacts"][0]["binary"])
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    return body


def test_the_plugin_is_all_that_loaded(sfumato_server_factory):
    running = sfumato_server_factory(config=CONFIG, plugins=["example"])
    with running.client() as client:
        report = client.get("/plugins").json()
    example = next(info for info in report["plugins"] if info["name"] == "example")
    assert example["distribution"] == "sfumato-example"
    assert example["engines"] == ["gradient"]
    assert example["samplers"] == ["SAMPLER_GRADIENT_SMOOTH", "SAMPLER_GRADIENT_LINEAR"]
    assert example["adjustments"] == ["sepia"]
    assert report["failures"] == []
    assert {engine["id"]: engine["ready"] for engine in report["engines"]} == {"gradient": True, "gradient-slow": True}


def test_list_engines_shows_the_samplers_and_their_flags(server):
    with server.client() as client:
        engines = client.get("/grpcgateway/engines").json()["engine"]
    gradient = next(engine for engine in engines if engine["id"] == "gradient")
    assert gradient["ready"] is True and gradient["name"] == "Gradient"
    samplers = {sampler["sampler"]: sampler for sampler in gradient["supportedSamplers"]}
    assert set(samplers) == {"SAMPLER_GRADIENT_SMOOTH", "SAMPLER_GRADIENT_LINEAR"}
    assert samplers["SAMPLER_GRADIENT_LINEAR"].get("supportsEta") is True
    assert "supportsEta" not in samplers["SAMPLER_GRADIENT_SMOOTH"]  # false is the default, left out


def test_generate_gives_one_image_per_sample_with_its_seed(server, request_builder):
    body = request_builder().request_id("req-1").prompt("a sunset").size(64, 32).samples(3).seeds(40).build()
    answers = server.generate(body)
    assert [answer["answerId"] for answer in answers] == ["req-1-0", "req-1-1", "req-1-2"]
    assert [answer["artifacts"][0]["seed"] for answer in answers] == [40, 41, 42]
    assert all(answer["meta"]["engineId"] == "gradient" for answer in answers)
    assert all(answer["artifacts"][0]["mime"] == "image/png" for answer in answers)
    images = [pixels_of(answer) for answer in answers]
    assert all(image.shape == (32, 64, 3) for image in images)
    assert not np.array_equal(images[0], images[1])


def test_same_seeds_same_images_however_batched(server, request_builder):
    batched = server.generate(request_builder().prompt("a sunset").size(64, 64).samples(3).seeds(7).build())
    single = server.generate(request_builder().prompt("a sunset").size(64, 64).seeds(8).build())
    np.testing.assert_array_equal(pixels_of(batched[1]), pixels_of(single[0]))


def test_the_server_runs_the_engine_unchanged(server, request_builder):
    """The HTTP result equals the engine called directly with the same job."""
    body = request_builder().prompt("a sunset").size(48, 40).seeds(123).extension("angle", 30.0).build()
    (answer,) = server.generate(body)

    registered = load_plugins(use_entry_points=False, extra=[("example", plugin)], strict=True)
    engine = GradientEngine(
        EngineConfig(id="gradient", kind="gradient"),
        EngineServices(samplers=registered.samplers_for("gradient"), cache_dir=""),
    )
    engine.load(lambda line: None)
    job = GenerationJob(
        request_id="local", engine_id="gradient", width=48, height=40, seeds=[123], steps=4,
        sampler=SamplerSettings(name="SAMPLER_GRADIENT_SMOOTH"), prompt=[WeightedText("a sunset")],
        extensions={"angle": 30.0},
    )
    (expected,) = engine.generate([ImageTask(job, 0, 123)], lambda step, total: None, job.cancel)
    np.testing.assert_array_equal(pixels_of(answer), expected.pixels)


def test_angle_changes_the_image(server, request_builder):
    def image(angle: float) -> np.ndarray:
        body = request_builder().prompt("a sunset").size(32, 32).seeds(5).extension("angle", angle).build()
        return pixels_of(server.generate(body)[0])

    assert not np.array_equal(image(0.0), image(90.0))


@pytest.mark.parametrize("angle", [-1.0, 360.5])
def test_angle_out_of_range_is_a_400(server, request_builder, angle):
    body = request_builder().prompt("a sunset").size(32, 32).extension("angle", angle).build()
    response = server.post("/grpcgateway/generate", body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 3
    assert "image.extension.parameters[0]" in error["message"]
    assert "'angle' must be in 0.0..360.0" in error["message"]


def test_angle_of_the_wrong_type_is_a_400(server, request_builder):
    body = request_builder().prompt("a sunset").size(32, 32).extension("angle", "north").build()
    response = server.post("/grpcgateway/generate", body)
    assert response.status_code == 400
    assert "takes a float value" in error_of(response)["message"]


def test_sepia_on_the_init_image_with_strength_zero(server, request_builder):
    init = np.random.default_rng(3).integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    body = (
        request_builder()
        .prompt("a sunset")
        .init_image(png_of(init), adjustments=[{"sepia": {"amount": 0.75}}])
        .strength(0.0)
        .seeds(1)
        .build()
    )
    (answer,) = server.generate(body)
    result = pixels_of(answer)
    assert result.shape == (32, 48, 3)  # the size defaults to the init image's
    np.testing.assert_array_equal(result, apply_sepia(init, SepiaParams(amount=0.75)))
    assert not np.array_equal(result, init)


def test_sepia_amount_out_of_range_is_a_400(server, request_builder):
    init = np.zeros((32, 32, 3), dtype=np.uint8)
    body = request_builder().prompt("x").init_image(png_of(init), adjustments=[{"sepia": {"amount": 2}}]).build()
    response = server.post("/grpcgateway/generate", body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 3
    assert error["message"] == "prompt[1].artifact.adjustments[0].sepia: amount must be in 0..1, got 2.0"


def test_sepia_with_an_unknown_field_is_a_400(server, request_builder):
    init = np.zeros((32, 32, 3), dtype=np.uint8)
    body = request_builder().prompt("x").init_image(png_of(init), adjustments=[{"sepia": {"amout": 1}}]).build()
    response = server.post("/grpcgateway/generate", body)
    assert response.status_code == 400
    assert 'unknown field "amout"' in error_of(response)["message"]


def test_sampler_by_name_and_by_number(server, request_builder):
    by_name = server.generate(
        request_builder().prompt("a sunset").size(32, 32).seeds(9).sampler("SAMPLER_GRADIENT_LINEAR").build()
    )
    by_number = server.generate(request_builder().prompt("a sunset").size(32, 32).seeds(9).sampler(1901).build())
    default = server.generate(request_builder().prompt("a sunset").size(32, 32).seeds(9).build())
    np.testing.assert_array_equal(pixels_of(by_name[0]), pixels_of(by_number[0]))
    assert not np.array_equal(pixels_of(by_name[0]), pixels_of(default[0]))


def test_eta_on_a_sampler_without_eta_is_a_400(server, request_builder):
    body = request_builder().prompt("a sunset").size(32, 32).sampler("SAMPLER_GRADIENT_SMOOTH").build()
    body["image"]["parameters"] = [{"sampler": {"eta": 0.5}}]
    response = server.post("/grpcgateway/generate", body)
    assert response.status_code == 400
    assert "SAMPLER_GRADIENT_SMOOTH does not support eta" in error_of(response)["message"]


def test_negative_prompt_is_refused_by_validate(server, request_builder):
    body = request_builder().prompt("a sunset").prompt("clouds", weight=-1.0).size(32, 32).build()
    response = server.post("/grpcgateway/generate", body)
    assert response.status_code == 501
    error = error_of(response)
    assert error["code"] == 12
    assert "has no negative prompts" in error["message"]


def test_size_above_the_configured_limit_is_a_400(server, request_builder):
    response = server.post("/grpcgateway/generate", request_builder().prompt("a sunset").size(512, 64).build())
    assert response.status_code == 400
    assert "above this engine's limit of 256" in error_of(response)["message"]


def test_async_cancel_stops_a_running_job(server, request_builder):
    body = request_builder().engine("gradient-slow").prompt("a sunset").size(32, 32).steps(100).build()
    with server.client() as client:
        handle = client.post("/grpcgateway/asyncGenerate", json=body).json()
        assert handle["requestId"] and handle["asyncHandle"]
        assert client.post("/grpcgateway/asyncCancel", json=handle).json() == {}
        told = client.post("/grpcgateway/asyncResult", json=handle).json()
        gone = client.post("/grpcgateway/asyncResult", json=handle)
    assert told["complete"] is True and told["status"]["code"] == 1  # CANCELLED, said once
    assert gone.status_code == 404
    assert error_of(gone)["code"] == 5


def test_async_result_delivers_the_images(server, request_builder):
    body = request_builder().prompt("a sunset").size(32, 32).samples(2).seeds(1).build()
    answers = []
    with server.client() as client:
        handle = client.post("/grpcgateway/asyncGenerate", json=body).json()
        for _ in range(100):
            result = client.post("/grpcgateway/asyncResult", json=handle).json()
            answers += result.get("answer", [])
            if result.get("complete"):
                break
    assert result["complete"] is True
    assert result["status"].get("code", 0) == 0
    assert sorted(answer["artifacts"][0]["seed"] for answer in answers) == [1, 2]
