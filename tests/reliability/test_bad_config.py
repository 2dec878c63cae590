"""Bad project configs, `--set` overrides and run folders through `tunesmith train`.

The run `qa` already holds prepared data and an adapter from an earlier train; a config mistake must name the key
(and the file or the `--set` it came from), the bad value and what is allowed, before anything is touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.conftest import assert_clean_failure, snapshot

_GOOD = "base: {base}\ndata:\n  - path: qa.csv\noutput_dir: {run}\ntrain:\n  max_seq_len: 64\n  max_steps: 1\n"

# (id, config text or None for no config file, extra CLI args, words the message must hold)
CASES = [
    (
        "unknown key",
        _GOOD + "trian:\n  epochs: 2\n",
        [],
        ["qa.yaml", "unknown key `trian`", "Allowed keys here: base, chat_template, name", "train"],
    ),
    (
        "unknown key in a data source",
        _GOOD.replace("- path: qa.csv", "- path: qa.csv\n    colums: {{}}"),
        [],
        ["qa.yaml", "unknown key `data.0.colums`", "Allowed keys here: path, format, columns, system"],
    ),
    (
        "wrong type",
        _GOOD + "lora:\n  alpha: lots\n",
        [],
        ["qa.yaml", "`lora.alpha` = 'lots' is not valid", "Expected `float`, got `str`", "Allowed: float > 0"],
    ),
    ("out of range", _GOOD + "lora:\n  r: 0\n", [], ["qa.yaml", "`lora.r` = 0 is not valid", "Allowed: int >= 1"]),
    (
        "fraction out of range",
        _GOOD + "split:\n  val_fraction: 1.5\n",
        [],
        ["qa.yaml", "`split.val_fraction` = 1.5", "Allowed: float >= 0.0 and < 1.0"],
    ),
    (
        "unknown choice",
        _GOOD.replace("max_steps: 1", "max_steps: 1\n  scheduler: exponential"),
        [],
        ["qa.yaml", "`train.scheduler` = 'exponential'", "one of linear, cosine, constant"],
    ),
    (
        "a list given as text",
        _GOOD.replace("data:\n  - path: qa.csv", "data: qa.csv"),
        [],
        ["qa.yaml", "`data` = 'qa.csv' is not valid", "Expected `array`, got `str`"],
    ),
    (
        "bad Hub repo id",
        _GOOD + "publish:\n  hf:\n    repo: just-a-name\n",
        [],
        ["qa.yaml", "`publish.hf.repo` = 'just-a-name'", "matching"],
    ),
    ("invalid YAML", _GOOD + "lora: [r: 8\n", [], ["qa.yaml:", "invalid YAML", "Fix the YAML syntax at that line"]),
    ("YAML that is not a mapping", "- base\n- data\n", [], ["qa.yaml", "must be a YAML mapping of keys", "examples/"]),
    ("missing base", _GOOD.replace("base: {base}\n", ""), [], ["qa.yaml: base", "no base model given", "--base DIR"]),
    (
        "base folder that does not exist",
        _GOOD.replace("base: {base}", "base: {tmp}/no-such-model"),
        [],
        ["no-such-model", "base model folder does not exist", "--base embedded"],
    ),
    (
        "no data",
        _GOOD.replace("data:\n  - path: qa.csv\n", ""),
        [],
        ["qa.yaml: data", "no training data given", "--data FILE"],
    ),
    ("bad run name", _GOOD + "name: my run\n", [], ["`name` = 'my run' is not a valid run name", "letters, digits"]),
    (
        "--set without =",
        _GOOD,
        ["--set", "train.learning_rate"],
        ["--set", "'train.learning_rate' is not KEY=VALUE", "--set train.learning_rate=1e-4"],
    ),
    ("--set with no key", _GOOD, ["--set", "=3"], ["'=3' is not KEY=VALUE"]),
    (
        "--set index beyond the list",
        _GOOD,
        ["--set", "data.3.path=x.csv"],
        ["--set data.3.path", "`data` has 1 item(s); index '3' does not exist", "from 0 to 0"],
    ),
    (
        "--set bad value",
        _GOOD,
        ["--set", "train.batch_size=-1"],
        ["--set train.batch_size", "`train.batch_size` = -1 is not valid", "Allowed: int >= 1"],
    ),
    (
        "--set unknown key",
        _GOOD,
        ["--set", "lora.rank=8"],
        ["--set lora.rank", "unknown key `lora.rank`", "Allowed keys here: r, alpha"],
    ),
    (
        "--set into a value",
        _GOOD,
        ["--set", "seed.value=1"],
        ["--set seed.value", "`seed` = {'value': 1} is not valid", "Allowed: int"],
    ),
    (
        "bad flag value",
        _GOOD,
        ["--max-steps", "0"],
        ["Invalid value for '--max-steps'", "0 is not in the range x>=1", "tunesmith train --help"],
    ),
    ("missing config file", None, [], ["nowhere.yaml", "config file does not exist", "--base and --data"]),
    ("QLoRA without CUDA", _GOOD + "train:\n  method: qlora\n  max_seq_len: 64\n", [], ["QLoRA (4-bit base weights)"]),
]


def _config(project: Path, text: str | None, base: Path) -> Path:
    if text is None:
        return project / "nowhere.yaml"
    path = project / "qa.yaml"
    if "method: qlora" in text:  # a second `train:` section would be a YAML duplicate key
        text = text.replace("train:\n  max_seq_len: 64\n  max_steps: 1\n", "", 1)
    path.write_text(text.format(base=base, run=project / "runs" / "qa", tmp=project), encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "args", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_config_fails_cleanly_and_keeps_the_run(cli, project, tiny_llama, text, args, words):
    config = _config(project, text, tiny_llama)
    before = snapshot(project / "runs")
    outcome = cli("train", config, *args)
    assert_clean_failure(outcome, *words)
    assert snapshot(project / "runs") == before


def test_the_good_config_is_good(project, tiny_llama):
    from tunesmith.config import load_config

    config = load_config(_config(project, _GOOD, tiny_llama))
    assert config.name == "qa" and config.output_dir == str(project / "runs" / "qa")


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("another run", ["belongs to another run", "name 'qa'", "this run is 'other'", "--output-dir"]),
        ("someone's files", ["not empty and is not a tunesmith run folder", "--output-dir"]),
        ("a file", ["Invalid value for '--output-dir'", "is a file", "tunesmith prepare --help"]),
    ],
)
def test_an_output_folder_that_is_not_this_runs_is_refused_and_left_alone(cli, project, tiny_llama, setup, words):
    target = {
        "another run": project / "runs" / "qa",
        "someone's files": project / "thesis",
        "a file": project / "notes.txt",
    }[setup]
    if setup == "someone's files":
        target.mkdir()
        (target / "chapter1.md").write_text("My thesis.\n")
    elif setup == "a file":
        target.write_text("keep me\n")
    before = snapshot(project)
    outcome = cli(
        "prepare", "--base", tiny_llama, "--data", project / "qa.csv", "--output-dir", target, "--set", "name=other"
    )
    assert_clean_failure(outcome, str(target), *words)
    assert snapshot(project) == before
