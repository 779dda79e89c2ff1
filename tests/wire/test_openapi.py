"""The OpenAPI document Litestar builds from the wire Structs with our schema plugins."""

from __future__ import annotations

import msgspec
import pytest
from litestar import Litestar, post
from litestar.params import JSONBody
from litestar.testing import TestClient

from sfumato.api.openapi import openapi_plugins
from sfumato.wire import Answer, Engines, ListEnginesRequest, Request


class SoftDilate(msgspec.Struct, rename="camel"):
    sigma: float = 0.0


@post("/generate", status_code=200, sync_to_thread=False)
def generate(data: JSONBody[Request]) -> Answer:
    return Answer()


@post("/engines", status_code=200, sync_to_thread=False)
def engines(data: JSONBody[ListEnginesRequest]) -> Engines:
    return Engines()


@pytest.fixture(scope="module")
def schemas() -> dict:
    app = Litestar([generate, engines], plugins=openapi_plugins({"softDilate": SoftDilate}))
    with TestClient(app) as client:
        response = client.get("/schema/openapi.json")
        assert response.status_code == 200
        return response.json()["components"]["schemas"]


def without_null(schema: dict) -> list[dict]:
    return [s for s in schema.get("oneOf", [schema]) if s.get("type") != "null"]


def test_uint64_is_digit_string_or_integer(schemas: dict) -> None:
    height = schemas["ImageParameters"]["properties"]["height"]
    assert {"type": "string", "pattern": "^[0-9]+$"} in without_null(height)
    assert {"type": "integer", "minimum": 0} in without_null(height)
    size = schemas["Artifact"]["properties"]["size"]
    assert size["format"] == "uint64" and size["oneOf"][0]["pattern"] == "^[0-9]+$"


def test_int64_tensor_shape_allows_sign(schemas: dict) -> None:
    items = schemas["Tensor"]["properties"]["shape"]["items"]
    assert items["oneOf"][0] == {"type": "string", "pattern": "^-?[0-9]+$"}


def test_bytes_are_base64_strings(schemas: dict) -> None:
    (binary,) = without_null(schemas["Artifact"]["properties"]["binary"])
    assert binary == {"type": "string", "format": "byte", "contentEncoding": "base64"}


def test_enums_are_string_enums_of_names(schemas: dict) -> None:
    artifact_type = schemas["ArtifactType"]
    assert artifact_type["type"] == "string"
    assert "ARTIFACT_LORA" in artifact_type["enum"] and "ARTIFACT_NONE" in artifact_type["enum"]


def test_camel_case_property_names(schemas: dict) -> None:
    assert {"engineId", "requestId", "requestedType", "prompt", "image", "extras", "accept"} <= \
        set(schemas["Request"]["properties"])
    assert "postAdjustments" in schemas["Artifact"]["properties"]
    assert {"float", "int", "str"} <= set(schemas["ExtendedParameter"]["properties"])


def test_sampler_name_is_an_open_string(schemas: dict) -> None:
    (diffusion,) = without_null(schemas["TransformType"]["properties"]["diffusion"])
    assert diffusion["type"] == "string" and "enum" not in diffusion
    assert "SAMPLER_K_DPMPP_2M" in diffusion["examples"]


def test_image_adjustment_lists_builtin_and_plugin_kinds(schemas: dict) -> None:
    adjustment = schemas["Artifact"]["properties"]["adjustments"]["items"]
    assert set(adjustment["properties"]) == {"blur", "invert", "levels", "channels", "rescale", "crop",
                                             "softDilate"}
    assert adjustment["maxProperties"] == 1 and adjustment["additionalProperties"] is False
    assert "extra" not in adjustment["properties"]
