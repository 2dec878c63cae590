"""Bad flags of `tunesmith package`, `publish` and `serve`: usage errors and refused values, one paragraph each.

`package` cases ask to replace release/pkg with `--force`; the earlier package must be exactly as it was. `publish`
cases point at that package and must neither send anything nor touch it.
"""

from __future__ import annotations

import pytest

from tests.reliability.conftest import assert_clean_failure, snapshot


def _file(name: str, content: bytes) -> object:
    def write(tmp_path):
        (tmp_path / name).write_bytes(content)
        return tmp_path / name

    return write


# (id, the flags after `package --base TINY --out release/pkg --force` (callables get tmp_path), words)
PACKAGE_CASES = [
    (
        "unknown quant type",
        ["--quant", "Q9_X"],
        ["unknown quantization type 'Q9_X'", "Use one of: F32, F16", "Q4_K_M is the usual choice"],
    ),
    (
        "quant needing an importance matrix",
        ["--quant", "IQ2_XS"],
        ["IQ2_XS needs an importance matrix", "Pick IQ3_S, Q3_K_M or a larger type"],
    ),
    (
        "--param without =",
        ["--param", "temperature"],
        ["--param 'temperature' is not KEY=VALUE", "--param temperature=0.7"],
    ),
    (
        "--param of the wrong type",
        ["--param", "temperature=hot"],
        ["--param temperature", "takes a number (like 0.7), not 'hot'"],
    ),
    (
        "--param Ollama does not know",
        ["--param", "temprature=0.7"],
        ["--param", "'temprature' is not a parameter Ollama knows", "temperature"],
    ),
    (
        "--param whole number given a fraction",
        ["--param", "num_ctx=4.5"],
        ["--param num_ctx", "takes a whole number", "not '4.5'"],
    ),
    ("package name with a space", ["--name", "my model"], ["package name 'my model' is not usable", "--name my-model"]),
    (
        "template Ollama would reject",
        ["--template", _file("chat.tmpl", b"{{ .Prompt ")],
        ["--template would not load in Ollama", "unclosed action", "fix the template"],
    ),
    (
        "template that is not UTF-8",
        ["--template", _file("chat.tmpl", "{{ .Prompt }} caf\xe9".encode("latin-1"))],
        ["chat.tmpl", "the template file is not UTF-8 text (byte 0xe9", "Re-save it as UTF-8"],
    ),
    (
        "template that does not exist",
        ["--template", "no-such.tmpl"],
        ["Invalid value for '--template'", "'no-such.tmpl' does not exist", "tunesmith package --help"],
    ),
    (
        "eval text that is not UTF-8",
        ["--eval-text", _file("heldout.txt", b"\xff\xfe" + "text".encode("utf-16-le"))],
        ["heldout.txt", "the --eval-text file is not UTF-8 text (byte 0xff at offset 0)", "Re-save it as UTF-8"],
    ),
    ("unknown flag", ["--quantize", "Q4_K_M"], ["No such option '--quantize'", "Did you mean '--quant'?"]),
]


def _resolve(args: list, tmp_path) -> list:
    return [arg(tmp_path) if callable(arg) else arg for arg in args]


@pytest.mark.parametrize(
    ("args", "words"), [case[1:] for case in PACKAGE_CASES], ids=[case[0] for case in PACKAGE_CASES]
)
def test_bad_package_flags_fail_cleanly_and_keep_the_earlier_package(cli, release, tiny_llama, tmp_path, args, words):
    before = snapshot(release)
    outcome = cli("package", "--base", tiny_llama, "--out", release / "pkg", "--force", *_resolve(args, tmp_path))
    assert_clean_failure(outcome, *words)
    assert snapshot(release) == before


def test_package_without_force_refuses_to_replace_the_earlier_package(cli, release, tiny_llama):
    before = snapshot(release)
    outcome = cli("package", "--base", tiny_llama, "--out", release / "pkg")
    assert_clean_failure(outcome, str(release / "pkg"), "the output folder already exists", "pass --force")
    assert snapshot(release) == before


def test_package_into_its_own_base_folder_is_refused(cli, tiny_llama):
    before = snapshot(tiny_llama)
    outcome = cli("package", "--base", tiny_llama, "--out", tiny_llama / "pkg")
    assert_clean_failure(outcome, "the output folder overlaps an input folder", f"outside {tiny_llama}")
    assert snapshot(tiny_llama) == before


def test_package_without_base_is_a_usage_error(cli, release):
    assert_clean_failure(cli("package", "--out", release / "new"), "Missing option '--base'")
    assert not (release / "new").exists()


# (id, how to break the package before publishing it (None: use it as is), flags, words)
PUBLISH_CASES = [
    ("nowhere to publish", None, [], ["nothing to publish to", "--hf", "--ollama"]),
    (
        "Ollama name without namespace",
        None,
        ["--ollama", "demo"],
        ["--ollama", "'demo' has no namespace", "Write USER/NAME"],
    ),
    ("Hub repo id without user", None, ["--hf", "demo-GGUF"], ["is not a Hugging Face repo id", "USER/REPO"]),
    (
        "package without a Modelfile",
        lambda pkg: (pkg / "Modelfile").unlink(),
        ["--hf", "alice/demo-GGUF"],
        ["the package folder has no Modelfile", "tunesmith package --out DIR"],
    ),
    (
        "Modelfile FROM a missing file",
        lambda pkg: (pkg / "demo-Q4_K_M.gguf").unlink(),
        ["--hf", "alice/demo-GGUF"],
        ["Modelfile:1", "FROM names './demo-Q4_K_M.gguf', which does not exist", "tunesmith package"],
    ),
    (
        "GGUF that is not GGUF",
        lambda pkg: (pkg / "demo-Q4_K_M.gguf").write_bytes(b"<html>"),
        ["--hf", "alice/demo-GGUF"],
        ["demo-Q4_K_M.gguf is not a GGUF file"],
    ),
]


@pytest.mark.parametrize(
    ("damage", "args", "words"), [case[1:] for case in PUBLISH_CASES], ids=[case[0] for case in PUBLISH_CASES]
)
def test_bad_publish_requests_fail_before_sending_anything(cli, release, httpx_mock, damage, args, words):
    package = release / "pkg"
    if damage:
        damage(package)
    before = snapshot(release)
    outcome = cli("publish", package, *args)
    assert_clean_failure(outcome, *words)
    assert snapshot(release) == before
    assert httpx_mock.get_requests() == []


def test_publish_of_a_missing_folder_names_it(cli, tmp_path):
    outcome = cli("publish", tmp_path / "nope", "--hf", "alice/demo-GGUF")
    assert_clean_failure(
        outcome, str(tmp_path / "nope"), "the package folder does not exist", "tunesmith package --out DIR"
    )


# (id, flags of `tunesmith serve`, words); each must fail before a server starts.
SERVE_CASES = [
    (
        "package folder that does not exist",
        ["--model", "no-such-package"],
        ["Invalid value for '--model'", "'no-such-package' does not exist"],
    ),
    ("port that is not a number", ["--port", "http"], ["Invalid value for '--port'", "'http' is not a valid integer"]),
    ("port out of range", ["--port", "70000"], ["serve.port", "port must be between 1 and 65535, got 70000"]),
    ("negative timeout", ["--read-timeout", "-1"], ["read_timeout must be a positive number of seconds, got -1"]),
    ("tiny body limit", ["--max-body-bytes", "10"], ["max_body_bytes must be at least 1024, got 10"]),
    ("unknown log level", ["--log-level", "loud"], ["Invalid value for '--log-level'", "'loud' is not one of"]),
]


@pytest.mark.parametrize(("args", "words"), [case[1:] for case in SERVE_CASES], ids=[case[0] for case in SERVE_CASES])
def test_bad_serve_flags_fail_before_serving(cli, args, words, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server started"))
    assert_clean_failure(cli("serve", *args), *words)
