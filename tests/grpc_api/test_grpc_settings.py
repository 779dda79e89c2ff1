"""[grpc] settings: defaults, environment overrides, refused values, a busy port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from sfumato.config import ConfigError, load_settings


def _load(tmp_path, text: str, environ: dict[str, str] | None = None):
    path = tmp_path / "sfumato.toml"
    path.write_text(text)
    return load_settings(path, environ=environ or {})


def test_defaults_let_a_16_mib_image_in(tmp_path) -> None:
    grpc = _load(tmp_path, "").grpc
    assert (grpc.enabled, grpc.port, grpc.web_enabled) == (True, 50051, True)
    assert grpc.max_receive_message_bytes >= 2 * 16 * 1024 * 1024  # an init image and a mask of 16 MiB


def test_environment_overrides(tmp_path) -> None:
    grpc = _load(tmp_path, "[grpc]\nport = 6000\n", {"SFUMATO_GRPC_PORT": "7000", "SFUMATO_GRPC_ENABLED": "off"}).grpc
    assert (grpc.port, grpc.enabled) == (7000, False)


@pytest.mark.parametrize(("text", "names"), [
    ("[grpc]\nport = 0\n", "grpc.port"),
    ("[grpc]\nport = 70000\n", "grpc.port"),
    ("[grpc]\nmax_receive_message_bytes = 0\n", "grpc.max_receive_message_bytes"),
    ("[grpc]\nmax_send_message_bytes = 4294967296\n", "grpc.max_send_message_bytes"),
    ('[grpc]\ntls_cert = "cert.pem"\n', "grpc.tls_cert and grpc.tls_key"),
    ("[grpc]\nport_number = 1\n", "port_number"),
])
def test_refused_values_name_the_setting(tmp_path, text: str, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        _load(tmp_path, text)


def test_a_busy_grpc_port_is_reported_before_anything_loads(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            http_port = free.getsockname()[1]
        environment = dict(os.environ, SFUMATO_GRPC_PORT=str(port), SFUMATO_CACHE_DIR=str(tmp_path))
        result = subprocess.run([sys.executable, "-m", "sfumato", "serve", "--host", "127.0.0.1", "--port", str(http_port)],
                                env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"cannot listen for gRPC on 127.0.0.1:{port} (grpc.port)" in result.stderr
