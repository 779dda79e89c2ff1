"""The OpenAPI document: the wire Structs as our schema plugins describe them, and, against a
running server, that what it declares (errors, streams, security) is what the server does."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import msgspec
import pytest
from litestar import Litestar, post
from litestar.params import JSONBody
from litestar.testing import TestClient

from sfumato.api.openapi import openapi_plugins
from sfumato.testing import RequestBuilder, RunningServer, start_server
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


# ---- the document a real server publishes, checked against what it answers ----

API_KEY = "openapi-test-key"
SERVER_CONFIG = """
[server]
default_engine = "test-pattern"
test_controls = true

[jobs]
queue_size = 1

[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[[engines]]
id = "test-pattern"
kind = "test-pattern"
max_batch_size = 1
"""
GEN, ASYNC, RESULT, CANCEL = (f"/grpcgateway/{name}" for name in ("generate", "asyncGenerate", "asyncResult", "asyncCancel"))
STATUS_REF = {"$ref": "#/components/schemas/Status"}
OPEN_ROUTES = {"/healthz", "/readyz"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, dict]]:
    server = start_server(tmp_path_factory.mktemp("openapi"), config=SERVER_CONFIG, plugins=["test_pattern"],
                          api_key=API_KEY)
    try:
        with server.client() as client:
            response = client.get("/schema/openapi.json")
        assert response.status_code == 200
        yield server, response.json()
    finally:
        server.stop()


def operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "head", "post", "put", "patch", "delete"):
                yield path, method, operation


def declared_schema(document: dict, path: str, method: str, status: int, media_type: str = "application/json") -> dict:
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered {status}, which the document does not declare"
    content = responses[str(status)]["content"]
    assert media_type in content, f"{method.upper()} {path} {status}: declares {list(content)}, answered {media_type}"
    return content[media_type]["schema"]


def check_against_document(document: dict, path: str, method: str, response: httpx.Response) -> Any:
    """The response's body validates against the schema the document declares for its status."""
    media_type = response.headers["content-type"].split(";")[0].strip()
    schema = declared_schema(document, path, method, response.status_code, media_type)
    validator = jsonschema_rs.Draft202012Validator({"components": document["components"], **schema})
    lines = response.text.splitlines() if media_type == "application/x-ndjson" else [response.text]
    bodies = [json.loads(line) for line in lines if line.strip()]
    for body in bodies:
        validator.validate(body)
    return bodies if media_type == "application/x-ndjson" else bodies[0]


def slow_request(**extension: Any) -> dict:
    builder = RequestBuilder().prompt("slow").size(16, 16).steps(20).extension("step_delay_ms", 100)
    for name, value in extension.items():
        builder.extension(name, value)
    return builder.build()


def test_document_is_valid_openapi_3_1(served):
    _, document = served
    assert document["openapi"].startswith("3.1")
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    definitions.OPENAPI_31_VALIDATOR.validate(document)
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def test_every_error_response_is_a_google_rpc_status(served):
    _, document = served
    status = document["components"]["schemas"]["Status"]
    assert set(status["required"]) == {"code", "message", "details"}
    for path, method, operation in operations(document):
        for code, response in operation["responses"].items():
            if int(code) < 400 or path == "/readyz":  # readyz's 503 is its Readiness answer
                continue
            schema = response["content"]["application/json"]["schema"]
            if path.startswith("/v1/"):  # the Stability REST v1 dialect has its own error shape
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
                continue
            assert schema == STATUS_REF, (method, path, code)
    assert "status_code" not in json.dumps(document), "Litestar's own error shape leaked into the document"


def test_rate_limited_answers_declare_retry_after(served):
    _, document = served
    seen = 0
    for path, method, operation in operations(document):
        if "429" in operation["responses"]:
            seen += 1
            assert operation["responses"]["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer", path
    assert seen >= 6


def test_api_key_scheme_covers_every_operation_but_the_probes(served):
    _, document = served
    (name, scheme), = document["components"]["securitySchemes"].items()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for path, method, operation in operations(document):
        if path in OPEN_ROUTES:
            assert not operation.get("security"), path
            assert "401" not in operation["responses"], path
        else:
            assert operation["security"] == [{name: []}], (method, path)
            assert "401" in operation["responses"], (method, path)
    assert not document.get("security")


def test_generate_declares_an_ndjson_stream_of_result_and_error_lines(served):
    _, document = served
    ok = document["paths"][GEN]["post"]["responses"]["200"]
    assert list(ok["content"]) == ["application/x-ndjson"]
    variants = ok["content"]["application/x-ndjson"]["schema"]["oneOf"]
    names = {variant["$ref"].rsplit("/", 1)[-1] for variant in variants}
    lines = {name: document["components"]["schemas"][name] for name in names}
    assert {tuple(schema["required"]) for schema in lines.values()} == {("result",), ("error",)}


def test_real_error_bodies_validate_against_the_declared_status(served):
    server, document = served
    with server.client() as client:
        bad = client.post(GEN, json=RequestBuilder().prompt("x").size(100, 64).build())
        unknown_engine = client.post(GEN, json=RequestBuilder().engine("nope").prompt("x").build())
        text_answer = client.post(GEN, json={**RequestBuilder().prompt("x").size(16, 16).build(),
                                             "requestedType": "ARTIFACT_TEXT"})
    no_key = httpx.post(server.url + GEN, json=RequestBuilder().prompt("x").build())
    wrong_key = httpx.get(server.url + "/grpcgateway/engines", headers={"Authorization": "Bearer nope"})
    assert (bad.status_code, unknown_engine.status_code, text_answer.status_code) == (400, 404, 501)
    assert no_key.status_code == wrong_key.status_code == 401
    for path, method, response in ((GEN, "post", bad), (GEN, "post", unknown_engine), (GEN, "post", text_answer),
                                   (GEN, "post", no_key), ("/grpcgateway/engines", "get", wrong_key)):
        body = check_against_document(document, path, method, response)
        assert body["code"] in (3, 5, 12, 16) and body["details"] == []


def test_a_real_429_validates_and_carries_retry_after(served):
    server, document = served
    handles, refused = [], None
    with server.client() as client:
        try:
            # One job runs and one waits (queue_size = 1): a few more fill it for sure.
            for _ in range(6):
                response = client.post(ASYNC, json=slow_request())
                if response.status_code != 200:
                    refused = response
                    break
                handles.append(response.json())
        finally:
            for handle in handles:
                client.post(CANCEL, json=handle)
    assert refused is not None and refused.status_code == 429, refused and refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert check_against_document(document, ASYNC, "post", refused)["code"] == 8


def test_success_bodies_validate_against_their_declared_schemas(served):
    server, document = served
    with server.client() as client:
        check_against_document(document, "/grpcgateway/engines", "get", client.get("/grpcgateway/engines"))
        check_against_document(document, "/grpcgateway/engines", "post", client.post("/grpcgateway/engines", json={}))
        check_against_document(document, "/readyz", "get", client.get("/readyz"))

        accepted = client.post(ASYNC, json=RequestBuilder().prompt("a").size(16, 16).steps(2).build())
        handle = check_against_document(document, ASYNC, "post", accepted)
        deadline = time.monotonic() + 30
        while True:
            answer = check_against_document(document, RESULT, "post", client.post(RESULT, json=handle))
            if answer.get("complete") or time.monotonic() > deadline:
                break
        assert answer.get("complete")

        running = client.post(ASYNC, json=slow_request()).json()
        check_against_document(document, CANCEL, "post", client.post(CANCEL, json=running))

        # Two samples, the second batch fails: one result line, then one error line.
        stream = client.post(GEN, json=RequestBuilder().prompt("s").size(16, 16).steps(2).samples(2)
                             .extension("fail", "error").extension("fail_index", 1).build())
    lines = check_against_document(document, GEN, "post", stream)
    assert [next(iter(line)) for line in lines] == ["result", "error"]
