"""stability-sdk 0.8.6, unmodified, over native gRPC: StabilityInference in plaintext and
over TLS with an API key, and the SDK's own CLI writing PNGs."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sfumato.testing import RunningServer, start_server
from tests.wire.sdk_python import sdk_python

from .conftest import BINARY_CONFIG, decode, png

DRIVER = Path(__file__).with_name("sdk_grpc_driver.py")
TLS_PORT = 50443  # StabilityInference uses TLS (and sends its key) only for a host ending in 443


def run_sdk(host: str, calls: list[dict], *, key: str = "unused", env: dict[str, str] | None = None) -> dict[str, dict]:
    job = {"host": host, "key": key, "engine": "test-pattern", "calls": calls}
    result = subprocess.run([sdk_python(), str(DRIVER)], input=json.dumps(job), capture_output=True, text=True,
                            timeout=300, env={**os.environ, **(env or {})}, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return {line["name"]: line for line in map(json.loads, result.stdout.splitlines())}


def images(outcome: dict) -> list[dict]:
    assert "error" not in outcome, outcome
    return [artifact for artifact in outcome["artifacts"] if artifact["type"] == "ARTIFACT_IMAGE"]


SIZE = {"width": 256, "height": 256, "steps": 10}


def test_stability_inference_over_plaintext_grpc(binary_server: RunningServer) -> None:
    init, mask = png(256, 256, seed=1), png(256, 256, seed=2, mode="L")
    calls = [
        {"name": "txt2img", "prompt": "a red fox", "kwargs": {**SIZE, "seed": 7}},
        {"name": "again", "prompt": "a red fox", "kwargs": {**SIZE, "seed": 7}},
        {"name": "img2img", "prompt": "a red fox", "init_png": base64.b64encode(init).decode(),
         "kwargs": {**SIZE, "seed": 7, "start_schedule": 0.6}},
        {"name": "inpaint", "prompt": "a red fox", "init_png": base64.b64encode(init).decode(),
         "mask_png": base64.b64encode(mask).decode(), "kwargs": {**SIZE, "seed": 7, "start_schedule": 1.0}},
        {"name": "samples", "prompt": "a red fox", "kwargs": {**SIZE, "seed": [11, 12, 13], "samples": 3}},
        {"name": "sampler", "prompt": "a red fox", "kwargs": {**SIZE, "seed": 7, "sampler": "SAMPLER_K_EULER_ANCESTRAL"}},
        {"name": "too-big", "prompt": "a red fox", "kwargs": {"width": 4096, "height": 4096, "seed": 7}},
        {"name": "context", "api": "context", "prompt": "a red fox",
         "kwargs": {**SIZE, "seed": [3, 4], "samples": 2}},
    ]
    outcomes = run_sdk(binary_server.grpc_target, calls)
    context = images(outcomes.pop("context"))
    assert [artifact["size"] for artifact in context] == [[256, 256]] * 2
    pictures = {name: images(outcome) for name, outcome in outcomes.items() if name != "too-big"}
    for name, artifacts in pictures.items():
        for artifact in artifacts:
            assert artifact["mime"] == "image/png", name
            assert decode(base64.b64decode(artifact["binary"])).size == (256, 256), name
    first = pictures["txt2img"][0]
    assert first["seed"] == 7 and first["binary"] == pictures["again"][0]["binary"]
    for variant in ("img2img", "inpaint", "sampler"):
        assert len(pictures[variant]) == 1 and pictures[variant][0]["binary"] != first["binary"], variant
    assert sorted(artifact["seed"] for artifact in pictures["samples"]) == [11, 12, 13]
    error = outcomes["too-big"]["error"]
    assert error["code"] == "INVALID_ARGUMENT" and "width" in error["details"]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("grpc-tls")
    cert, key = _self_signed(directory)
    config = BINARY_CONFIG + f'\n[grpc]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
    server = start_server(directory, config=config, plugins=["test_pattern"], api_key="sk-test",
                          env={"SFUMATO_GRPC_PORT": str(TLS_PORT)})
    yield server, cert
    server.stop()


def test_stability_inference_over_tls_with_an_api_key(tls_server) -> None:
    server, cert = tls_server
    env = {"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(cert)}
    call = [{"name": "txt2img", "prompt": "a red fox", "kwargs": {**SIZE, "seed": 7}}]
    good = run_sdk(f"localhost:{TLS_PORT}", call, key="sk-test", env=env)["txt2img"]
    assert len(images(good)) == 1
    bad = run_sdk(f"localhost:{TLS_PORT}", call, key="sk-wrong", env=env)["txt2img"]["error"]
    refused = server.client(headers={"Authorization": "Bearer sk-wrong"}).post("/grpcgateway/generate", json={})
    assert refused.status_code == 401
    assert bad == {"code": "UNAUTHENTICATED", "details": refused.json()["message"]}


def test_the_sdk_cli_writes_pngs(binary_server: RunningServer, tmp_path: Path) -> None:
    env = {**os.environ, "STABILITY_HOST": binary_server.grpc_target, "STABILITY_KEY": "unused"}
    command = [sdk_python(), "-m", "stability_sdk", "generate", "-e", "test-pattern", "-W", "256", "-H", "256",
               "-s", "10", "-S", "7", "-n", "2", "-A", "k_euler", "a", "red", "fox"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    written = sorted(tmp_path.glob("generation_*.png"))
    assert len(written) == 2, (list(tmp_path.iterdir()), result.stderr[-2000:])
    for path in written:
        assert decode(path.read_bytes()).size == (256, 256)
