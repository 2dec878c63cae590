"""One YAML project file holds the training, packaging, publishing and serving settings; each reader takes its part."""

from __future__ import annotations

import pytest

from tunesmith.config import load_config
from tunesmith.errors import ConfigError
from tunesmith.server import load_settings

PROJECT = """\
base: ./base
name: support-bot
data:
  - path: faq.csv
train: {max_steps: 4}
package:
  quant: [Q4_K_M]
publish:
  hf: {repo: alice/support-bot}
serve:
  port: 8100
  models: [runs/support-bot/package]
  read_timeout: 60
"""


def _project(tmp_path, text: str = PROJECT):
    (tmp_path / "base").mkdir()
    (tmp_path / "faq.csv").write_text("Question,Answer\nHi?,Hello.\n")
    path = tmp_path / "tunesmith.yaml"
    path.write_text(text)
    return path


def test_the_project_config_accepts_the_serve_section_and_the_server_reads_it(tmp_path):
    path = _project(tmp_path)
    config = load_config(path)
    assert config.train.max_steps == 4 and config.publish.hf.repo == "alice/support-bot"
    assert config.serve == {"port": 8100, "models": ["runs/support-bot/package"], "read_timeout": 60}
    settings = load_settings(path, environ={})
    assert settings.port == 8100 and settings.read_timeout == 60
    assert settings.models == (str(tmp_path / "runs" / "support-bot" / "package"),)


def test_a_project_without_a_serve_section_serves_on_defaults(tmp_path):
    path = _project(tmp_path, PROJECT.split("serve:")[0])
    assert load_config(path).serve == {}
    assert load_settings(path, environ={}, models=["pkg"]).port == 8000


@pytest.mark.parametrize("serve, reader, words", [
    ("serve: 8100\n", "config", ["`serve` = 8100 is not valid"]),
    ("serve:\n  prot: 8100\n", "server", ["unknown setting 'prot'", "serve.prot", "Known settings:"]),
    ("serve:\n  port: 0\n", "server", ["port must be between 1 and 65535", "serve.port"]),
], ids=["not a mapping", "unknown key", "bad value"])
def test_a_bad_serve_section_is_named_by_the_reader_that_owns_it(tmp_path, serve, reader, words):
    path = _project(tmp_path, PROJECT.split("serve:")[0] + serve)
    with pytest.raises(ConfigError) as info:
        load_config(path) if reader == "config" else load_settings(path, environ={})
    for word in words:
        assert word in str(info.value)
    if reader == "server":
        load_config(path)  # training and packaging do not read it, so they do not refuse it
