"""The same request over REST v1 and over /grpcgateway gives the same image bytes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from rest_v1_support import half_mask, png

from sfumato.testing import RunningServer, start_server


def rest_images(server: RunningServer, engine: str, route: str, **kwargs: Any) -> list[bytes]:
    response = requests.post(f"{server.url}/v1/generation/{engine}/{route}", timeout=300, **kwargs)
    assert response.status_code == 200, response.text[:500]
    return [base64.b64decode(artifact["base64"]) for artifact in response.json()["artifacts"]]


def gateway_images(server: RunningServer, body: dict[str, Any]) -> list[bytes]:
    answers = server.generate(body)
    by_index = sorted(answers, key=lambda answer: answer["artifacts"][0].get("index", 0))
    return [base64.b64decode(answer["artifacts"][0]["binary"]) for answer in by_index]


def artifact(kind: str, data: bytes, adjustments: list[Any] | None = None) -> dict[str, Any]:
    return {"artifact": {"type": kind, "binary": base64.b64encode(data).decode(), "adjustments": adjustments or []}}


def test_text_to_image(rest_server: RunningServer) -> None:
    rest = rest_images(rest_server, "test-pattern", "text-to-image", json={
        "text_prompts": [{"text": "a red fox"}, {"text": "blurry", "weight": -0.5}], "seed": 77, "samples": 2,
        "steps": 12, "width": 320, "height": 192, "cfg_scale": 5, "sampler": "K_EULER_ANCESTRAL"})
    gateway = gateway_images(rest_server, {
        "engineId": "test-pattern", "prompt": [{"text": "a red fox"}, {"text": "blurry", "parameters": {"weight": -0.5}}],
        "image": {"width": "320", "height": "192", "seed": [77], "samples": "2", "steps": "12",
                  "transform": {"diffusion": "SAMPLER_K_EULER_ANCESTRAL"}, "parameters": [{"sampler": {"cfgScale": 5}}]}})
    assert len(rest) == 2 and rest == gateway


def test_rest_defaults_are_the_documented_ones(rest_server: RunningServer) -> None:
    rest = rest_images(rest_server, "test-pattern", "text-to-image",
                       json={"text_prompts": [{"text": "a lighthouse"}], "seed": 5})
    gateway = gateway_images(rest_server, {
        "engineId": "test-pattern", "prompt": [{"text": "a lighthouse"}],
        "image": {"width": "512", "height": "512", "seed": [5], "samples": "1", "steps": "50",
                  "parameters": [{"sampler": {"cfgScale": 7}}]}})
    assert rest == gateway


def test_image_to_image(rest_server: RunningServer) -> None:
    init = png(192, 128, seed=3)
    rest = rest_images(rest_server, "test-pattern", "image-to-image", files={"init_image": init}, data={
        "text_prompts[0][text]": "a dog", "init_image_mode": "STEP_SCHEDULE", "step_schedule_start": 0.5,
        "seed": 11, "steps": 10})
    gateway = gateway_images(rest_server, {
        "engineId": "test-pattern", "prompt": [{"text": "a dog"}, artifact("ARTIFACT_IMAGE", init)],
        "image": {"seed": [11], "samples": "1", "steps": "10",
                  "parameters": [{"sampler": {"cfgScale": 7}, "schedule": {"start": 0.5}}]}})
    assert rest == gateway


@pytest.mark.parametrize("mask_source", ["MASK_IMAGE_WHITE", "MASK_IMAGE_BLACK", "INIT_IMAGE_ALPHA"])
def test_masking(rest_server: RunningServer, mask_source: str) -> None:
    init = png(128, 128, alpha_left=mask_source == "INIT_IMAGE_ALPHA", seed=4)
    mask = half_mask(128, 128, left=255 if mask_source == "MASK_IMAGE_WHITE" else 0)
    files = {"init_image": init} if mask_source == "INIT_IMAGE_ALPHA" else {"init_image": init, "mask_image": mask}
    rest = rest_images(rest_server, "test-pattern", "image-to-image/masking", files=files, data={
        "text_prompts[0][text]": "a galaxy", "mask_source": mask_source, "init_image_mode": "STEP_SCHEDULE",
        "step_schedule_start": 1, "seed": 12, "steps": 10})
    # The same masks as the documented wire requests (docs/api.md): white = repaint.
    if mask_source == "MASK_IMAGE_WHITE":
        mask_prompt = artifact("ARTIFACT_MASK", mask)
    elif mask_source == "MASK_IMAGE_BLACK":
        mask_prompt = artifact("ARTIFACT_MASK", mask, [{"invert": {}}])
    else:
        mask_prompt = artifact("ARTIFACT_MASK", init, [{"channels": {"r": "CHANNEL_A"}}, {"invert": {}}])
    gateway = gateway_images(rest_server, {
        "engineId": "test-pattern", "prompt": [{"text": "a galaxy"}, artifact("ARTIFACT_IMAGE", init), mask_prompt],
        "image": {"seed": [12], "samples": "1", "steps": "10",
                  "parameters": [{"sampler": {"cfgScale": 7}, "schedule": {"start": 1}}]}})
    assert rest == gateway


TINY_CONFIG = """
[quotas]
requests_per_minute = 0

[grpc]
enabled = false
web_enabled = false

[[engines]]
id = "tiny-sd"
kind = "diffusers"
model = "tiny-sd"
[engines.limits]
max_width = 256
max_height = 256
max_pixels = 65536
"""


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("rest-v1-tiny"), config=TINY_CONFIG, plugins=["diffusers"])
    yield server
    server.stop()


@pytest.mark.torch
@pytest.mark.slow
def test_tiny_sd_text_to_image(tiny_server: RunningServer) -> None:
    rest = rest_images(tiny_server, "tiny-sd", "text-to-image", json={
        "text_prompts": [{"text": "a red cat"}], "seed": 3, "steps": 10, "width": 128, "height": 128, "cfg_scale": 6,
        "sampler": "K_EULER"})
    gateway = gateway_images(tiny_server, {
        "engineId": "tiny-sd", "prompt": [{"text": "a red cat"}],
        "image": {"width": "128", "height": "128", "seed": [3], "samples": "1", "steps": "10",
                  "transform": {"diffusion": "SAMPLER_K_EULER"}, "parameters": [{"sampler": {"cfgScale": 6}}]}})
    assert rest == gateway
