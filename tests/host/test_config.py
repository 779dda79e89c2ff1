"""Config file, embedded default and environment overrides."""

from __future__ import annotations

import pytest

from sfumato.config import ConfigError, load_settings


def test_embedded_default_has_test_pattern_tiny_sd_and_upscalers():
    settings = load_settings(environ={})
    assert [e.id for e in settings.engines] == ["test-pattern", "tiny-sd", "rgb-upscaler", "tiny-upscaler"]
    assert settings.server.host == "127.0.0.1"
    assert settings.skip_missing_kinds is True


def test_file_and_environment_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[server]\nport = 6000\n[[engines]]\nid = "a"\nkind = "test-pattern"\n[engines.limits]\nmax_steps = 10\n')
    settings = load_settings(path, environ={"SFUMATO_PORT": "7000", "SFUMATO_API_KEYS": "k1, k2", "SFUMATO_QUEUE_SIZE": "3"})
    assert settings.server.port == 7000
    assert settings.server.api_keys == ["k1", "k2"]
    assert settings.jobs.queue_size == 3
    assert settings.engines[0].to_engine_config().limits.max_steps == 10


def test_config_path_from_environment(tmp_path):
    path = tmp_path / "env.toml"
    path.write_text('[[engines]]\nid = "only"\nkind = "test-pattern"\n')
    assert [e.id for e in load_settings(environ={"SFUMATO_CONFIG": str(path)}).engines] == ["only"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[server]\nprot = 1\n", ["prot"]),
        ("[server]\nport = 'x'\n", ["port"]),
        ("[server]\nport = 0\n", ["port"]),
        ("[[engines]]\nid = 'a'\n", ["kind"]),
        ("[[engines]]\nid = 'a'\nkind = 'x'\n[[engines]]\nid = 'a'\nkind = 'y'\n", ["unique", "a"]),
        ("[jobs]\nqueue_size = 0\n", ["queue_size"]),
        ("not toml = = 1", ["TOML"]),
        ("[server]\nlog_level = 'loud'\n", ["log_level"]),
        ("[server]\nhttp_parser = 'picohttp'\n", ["http_parser", "auto, httptools or h11"]),
        ("[server]\nmax_header_bytes = 100\n", ["max_header_bytes", "1024"]),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings(path, environ={})
    for word in words:
        assert word in str(error.value)


def test_bad_environment_value(tmp_path):
    with pytest.raises(ConfigError, match="SFUMATO_PORT"):
        load_settings(environ={"SFUMATO_PORT": "eighty"})


def test_missing_file():
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings("/nonexistent/sfumato.toml", environ={})
