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


@pytest.mark.parametrize(
    "serve, reader, words",
    [
        ("serve: 8100\n", "config", ["`serve` = 8100 is not valid"]),
        ("serve:\n  prot: 8100\n", "server", ["unknown setting 'prot'", "serve.prot", "Known settings:"]),
        ("serve:\n  port: 0\n", "server", ["port must be between 1 and 65535", "serve.port"]),
    ],
    ids=["not a mapping", "unknown key", "bad value"],
)
def test_a_bad_serve_section_is_named_by_the_reader_that_owns_it(tmp_path, serve, reader, words):
    path = _project(tmp_path, PROJECT.split("serve:")[0] + serve)
    with pytest.raises(ConfigError) as info:
        load_config(path) if reader == "config" else load_settings(path, environ={})
    for word in words:
        assert word in str(info.value)
    if reader == "server":
        load_config(path)  # training and packaging do not read it, so they do not refuse it


# (case, the package: section, what package.as_adapter reads as)
AS_ADAPTER = [
    ("left out: the adapter is merged", "package:\n  quant: [Q4_K_M]\n", False),
    ("true: kept a separate GGUF adapter", "package:\n  quant: [Q4_K_M]\n  as_adapter: true\n", True),
    ("false", "package:\n  as_adapter: false\n", False),
]


@pytest.mark.parametrize(("section", "expected"), [case[1:] for case in AS_ADAPTER], ids=[c[0] for c in AS_ADAPTER])
def test_package_as_adapter_is_read_from_the_project_file(tmp_path, section, expected):
    path = _project(tmp_path, PROJECT.replace("package:\n  quant: [Q4_K_M]\n", section))
    assert load_config(path).package.as_adapter is expected


def test_a_package_as_adapter_that_is_not_a_boolean_names_the_key(tmp_path):
    path = _project(tmp_path, PROJECT.replace("  quant: [Q4_K_M]\n", "  quant: [Q4_K_M]\n  as_adapter: sometimes\n"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "`package.as_adapter` = 'sometimes' is not valid" in message and "bool" in message


def test_run_packages_as_adapter_and_the_package_stamp_tells_the_two_apart(tmp_path, monkeypatch):
    import tunesmith.packager.package as package_module
    from tunesmith import pipeline

    merged = load_config(_project(tmp_path))
    kept = load_config(tmp_path / "tunesmith.yaml", overrides=["package.as_adapter=true"])
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    specs = []

    def build(spec, progress):
        specs.append(spec)
        return package_module.PackageResult(spec.out, "support-bot", [], "chatml", "", {}, True)

    monkeypatch.setattr(package_module, "build_package", build)
    stamps = []
    for config, run in ((merged, "merged"), (kept, "kept")):
        (tmp_path / run).mkdir()
        _, stamp, built = pipeline._package(config, tmp_path / run, adapter, pipeline.SILENT)
        assert built
        stamps.append(stamp)
    assert [spec.as_adapter for spec in specs] == [False, True]
    assert stamps[0] != stamps[1]
