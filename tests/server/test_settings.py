"""Server settings: YAML `serve:` section, then environment, then flags; errors name the setting."""

from __future__ import annotations

import pytest

from tunesmith.errors import ConfigError
from tunesmith.server import ServerSettings, create_app, load_settings


def test_layers_yaml_then_env_then_flags(tmp_path):
    config = tmp_path / "project.yaml"
    config.write_text(
        "base: embedded\nserve:\n  port: 9000\n  host: 0.0.0.0\n  models: [pkg]\n  read_timeout: 30\n", encoding="utf-8"
    )
    env = {
        "TUNESMITH_SERVE_PORT": "9100",
        "TUNESMITH_API_KEYS": "sk-a, sk-b",
        "TUNESMITH_SERVE_OLLAMA": "http://a:11434,http://b:11434",
    }
    settings = load_settings(config, environ=env, port=9200, host=None, api_keys=())
    assert settings.port == 9200 and settings.host == "0.0.0.0" and settings.read_timeout == 30.0
    assert settings.models == (str((tmp_path / "pkg").resolve()),)
    assert settings.api_keys == ("sk-a", "sk-b")
    assert settings.ollama == ("http://a:11434", "http://b:11434")


def test_defaults_without_any_source():
    settings = load_settings(environ={})
    assert (settings.host, settings.port, settings.api_keys, settings.log_prompts) == ("127.0.0.1", 8000, (), False)


def test_api_keys_never_show_in_the_repr():
    assert "sk-secret" not in repr(load_settings(environ={"TUNESMITH_API_KEYS": "sk-secret"}))


@pytest.mark.parametrize(
    ("yaml_text", "env", "where", "words"),
    [
        ("serve:\n  prot: 1\n", {}, "serve.prot", "unknown setting"),
        ("serve:\n  port: eighty\n", {}, "serve.port", "Expected `int`"),
        ("serve:\n  port: 70000\n", {}, "serve.port", "between 1 and 65535"),
        ("serve:\n  read_timeout: 0\n", {}, "serve.read_timeout", "positive"),
        ("serve:\n  max_body_bytes: 10\n", {}, "serve.max_body_bytes", "at least 1024"),
        ("serve: [1, 2]\n", {}, "serve", "must be a mapping"),
        ("serve:\n  port: [\n", {}, ":3", "invalid YAML"),
        ("serve: {}\n", {"TUNESMITH_SERVE_CONNECT_TIMEOUT": "soon"}, "serve.connect_timeout", "Expected `float`"),
    ],
)
def test_bad_settings_name_the_key(tmp_path, yaml_text, env, where, words):
    config = tmp_path / "c.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ=env)
    assert where in str(caught.value) and words in str(caught.value)


def test_a_server_needs_something_to_serve(tmp_path):
    with pytest.raises(ConfigError, match="nothing to serve"):
        create_app(ServerSettings(runs=str(tmp_path / "no-runs")))
