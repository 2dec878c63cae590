"""Reading a package folder for publishing, and the release names we accept before anything is sent."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from tunesmith.errors import ModelfileError, PublishError
from tunesmith.modelfiles import Modelfile, parse_modelfile, render_modelfile
from tunesmith.server.publish import (
    OllamaName,
    check_hf_repo,
    hub_ollama_files,
    ollama_base_url,
    ollama_create_request,
    parse_ollama_name,
    read_package,
)
from tunesmith.server.publish.package import sha256_files

CHATML = ("{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n"
          "{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n")


def write_package(folder: Path, *, name: str = "demo", quants: tuple[str, ...] = ("Q4_K_M", "Q8_0"),
                  system: str | None = "You answer in one sentence.", seed: int = 0) -> Path:
    """A package folder as `tunesmith package` lays it out (GGUF bytes are random after the magic)."""
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    for quant in quants:
        (folder / f"{name}-{quant}.gguf").write_bytes(b"GGUF" + rng.randbytes(48 * 1024 + len(quant)))
    modelfile = Modelfile(from_=f"./{name}-{quants[0]}.gguf", template=CHATML, system=system,
                          parameters={"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.2, "num_ctx": 2048},
                          messages=[("user", "Who are you?"), ("assistant", "A small model.")],
                          license=["Apache License 2.0"])
    (folder / "Modelfile").write_text(render_modelfile(modelfile), encoding="utf-8")
    (folder / "README.md").write_text("---\nlicense: apache-2.0\nbase_model: HuggingFaceTB/SmolLM2-135M-Instruct\n"
                                      "tags: [gguf, ollama]\n---\n# demo\n", encoding="utf-8")
    (folder / "quality.json").write_text('{"checks": []}\n', encoding="utf-8")
    return folder


def write_adapter_package(folder: Path) -> Path:
    """The layout of `tunesmith package --as-adapter`: FROM the quantized base, ADAPTER the GGUF LoRA beside it."""
    write_package(folder, quants=("base-Q4_K_M",))
    (folder / "demo-adapter-F16.gguf").write_bytes(b"GGUF" + bytes(range(256)) * 64)
    modelfile = parse_modelfile((folder / "Modelfile").read_text(encoding="utf-8"))
    modelfile.adapter = "./demo-adapter-F16.gguf"
    (folder / "Modelfile").write_text(render_modelfile(modelfile), encoding="utf-8")
    return folder


def test_read_package_lists_release_files_and_reads_modelfile_values(tmp_path):
    folder = write_package(tmp_path / "package")
    (folder / ".Modelfile.x.partial").write_text("half written")
    package = read_package(folder)
    assert [path.name for path in package.files] == [
        "Modelfile", "README.md", "demo-Q4_K_M.gguf", "demo-Q8_0.gguf", "quality.json"]
    assert package.model_file == (folder / "demo-Q4_K_M.gguf").resolve()
    assert package.template == CHATML
    assert package.system == "You answer in one sentence."
    assert package.parameters == {"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.2, "num_ctx": 2048}
    assert package.messages == (("user", "Who are you?"), ("assistant", "A small model."))
    assert package.license == ("Apache License 2.0",)
    assert package.name == "demo"  # from the GGUF's name, whatever the folder is called


def test_hub_ollama_files_hold_template_system_and_typed_params(tmp_path):
    files = hub_ollama_files(read_package(write_package(tmp_path / "demo")))
    assert files["template"].decode() == CHATML
    assert files["system"] == b"You answer in one sentence."
    assert files["params"].decode() == ('{\n  "num_ctx": 2048,\n  "stop": [\n    "<|im_end|>",\n    "<|im_start|>"\n'
                                        '  ],\n  "temperature": 0.2\n}\n')


def test_hub_ollama_files_leave_out_what_the_modelfile_does_not_set(tmp_path):
    folder = write_package(tmp_path / "demo", system=None)
    (folder / "Modelfile").write_text("FROM ./demo-Q4_K_M.gguf\n")
    assert hub_ollama_files(read_package(folder)) == {}


def test_create_request_matches_what_ollama_create_sends(tmp_path):
    package = read_package(write_package(tmp_path / "demo"))
    digest = hashlib.sha256(package.model_file.read_bytes()).hexdigest()
    request = ollama_create_request(package, sha256_files([package.model_file]))
    assert request == {
        "files": {"demo-Q4_K_M.gguf": f"sha256:{digest}"},
        "template": CHATML,
        "system": "You answer in one sentence.",
        "parameters": {"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.2, "num_ctx": 2048},
        "license": ["Apache License 2.0"],
        "messages": [{"role": "user", "content": "Who are you?"}, {"role": "assistant", "content": "A small model."}],
    }


@pytest.mark.parametrize(("setup", "error", "words"), [
    ("missing folder", PublishError, "does not exist"),
    ("no Modelfile", PublishError, "has no Modelfile"),
    ("FROM a registry model", PublishError, "names a model, not a GGUF file"),
    ("FROM a missing file", PublishError, "'./gone.gguf' does not exist"),
    ("FROM outside the folder", PublishError, "outside the package folder"),
    ("not a GGUF", PublishError, "is not a GGUF file"),
    ("bad Modelfile", ModelfileError, "PARAMETER temprature is not a parameter Ollama knows"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_read_package_rejects_bad_folders_saying_what_and_where(tmp_path, setup, error, words):
    folder = tmp_path / "pkg"
    if setup != "missing folder":
        write_package(folder)
    modelfile = folder / "Modelfile"
    if setup == "no Modelfile":
        modelfile.unlink()
    elif setup == "FROM a registry model":
        modelfile.write_text("FROM llama3.2\n")
    elif setup == "FROM a missing file":
        modelfile.write_text("FROM ./gone.gguf\n")
    elif setup == "FROM outside the folder":
        (tmp_path / "other.gguf").write_bytes(b"GGUF....")
        modelfile.write_text("FROM ../other.gguf\n")
    elif setup == "not a GGUF":
        (folder / "demo-Q4_K_M.gguf").write_bytes(b"PK\x03\x04 a zip")
    elif setup == "bad Modelfile":
        modelfile.write_text("FROM ./demo-Q4_K_M.gguf\nPARAMETER temprature 0.3\n")
    with pytest.raises(error) as caught:
        read_package(folder)
    assert words in str(caught.value)
    assert str(folder) in str(caught.value)


@pytest.mark.parametrize(("name", "expected"), [
    ("alice/demo", OllamaName("alice", "demo", "latest")),
    ("alice/demo:q4_k_m", OllamaName("alice", "demo", "q4_k_m")),
    ("a_b-c/smollm2.5-chat:v1.0", OllamaName("a_b-c", "smollm2.5-chat", "v1.0")),
])
def test_parse_ollama_name_accepts_user_name_tag(name, expected):
    assert parse_ollama_name(name) == expected


def test_ollama_name_url_drops_latest_tag():
    assert parse_ollama_name("alice/demo").url == "https://ollama.com/alice/demo"
    assert parse_ollama_name("alice/demo:small").url == "https://ollama.com/alice/demo:small"


@pytest.mark.parametrize(("name", "words"), [
    ("demo", "has no namespace"),
    ("demo:latest", "has no namespace"),
    ("registry.ollama.ai/alice/demo", "not in the form USER/NAME[:TAG]"),
    ("alice/demo:a:b", "not in the form USER/NAME[:TAG]"),
    ("al.ice/demo", "the user 'al.ice'"),
    ("alice/-demo", "the name '-demo'"),
    ("alice/demo:", "the tag ''"),
    ("alice/" + "x" * 81, "at most 80 characters"),
])
def test_parse_ollama_name_rejects_names_ollama_com_refuses(name, words):
    with pytest.raises(PublishError) as caught:
        parse_ollama_name(name)
    assert words in str(caught.value)
    assert "USER/NAME" in str(caught.value)


@pytest.mark.parametrize("repo_id", ["alice/demo-GGUF", "org.x/model_1.5"])
def test_check_hf_repo_accepts_user_repo(repo_id):
    assert check_hf_repo(repo_id) == repo_id


@pytest.mark.parametrize("repo_id", ["demo", "a/b/c", "alice/de mo", "alice/a--b", "alice/a..b", "alice/-x",
                                     "alice/" + "x" * 95])
def test_check_hf_repo_rejects_what_the_hub_refuses(repo_id):
    with pytest.raises(PublishError, match="not a Hugging Face repo id.*USER/REPO"):
        check_hf_repo(repo_id)


@pytest.mark.parametrize(("host", "url"), [
    (None, "http://127.0.0.1:11434"),
    ("", "http://127.0.0.1:11434"),
    ("gpu-box", "http://gpu-box:11434"),
    ("gpu-box:9999", "http://gpu-box:9999"),
    ("http://gpu-box", "http://gpu-box"),
    ("https://ollama.example.com:8443/", "https://ollama.example.com:8443"),
])
def test_ollama_base_url_reads_ollama_host_spellings(host, url):
    assert ollama_base_url(host) == url


def test_ollama_base_url_rejects_other_schemes():
    with pytest.raises(PublishError, match="not an Ollama address"):
        ollama_base_url("ftp://box")
