"""What a release is made of before anything is sent: the names we accept, the daemon address, the files
`ollama run hf.co/...` reads and the body of /api/create."""

from __future__ import annotations

import hashlib

import pytest

from tests.fixtures.package_folder import CHATML, CREATE_VALUES, write_package
from tunesmith.errors import PublishError
from tunesmith.packager.package_folder import read_package_folder
from tunesmith.publish import (
    OllamaName,
    check_hf_repo,
    hub_ollama_files,
    ollama_base_url,
    ollama_create_request,
    parse_ollama_name,
    sha256_files,
)


def test_hub_ollama_files_hold_template_system_and_typed_params(tmp_path):
    files = hub_ollama_files(read_package_folder(write_package(tmp_path / "demo")))
    assert files["template"].decode() == CHATML
    assert files["system"] == b"You answer in one sentence."
    assert files["params"].decode() == (
        '{\n  "num_ctx": 2048,\n  "stop": [\n    "<|im_end|>",\n    "<|im_start|>"\n  ],\n  "temperature": 0.2\n}\n'
    )


def test_hub_ollama_files_leave_out_what_the_modelfile_does_not_set(tmp_path):
    folder = write_package(tmp_path / "demo", system=None)
    (folder / "Modelfile").write_text("FROM ./demo-Q4_K_M.gguf\n")
    assert hub_ollama_files(read_package_folder(folder)) == {}


def test_create_request_matches_what_ollama_create_sends(tmp_path):
    package = read_package_folder(write_package(tmp_path / "demo"))
    digest = hashlib.sha256(package.gguf.read_bytes()).hexdigest()
    request = ollama_create_request(package, sha256_files([package.gguf]))
    assert request == {"files": {"demo-Q4_K_M.gguf": f"sha256:{digest}"}, **CREATE_VALUES}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("alice/demo", OllamaName("alice", "demo", "latest")),
        ("alice/demo:q4_k_m", OllamaName("alice", "demo", "q4_k_m")),
        ("a_b-c/smollm2.5-chat:v1.0", OllamaName("a_b-c", "smollm2.5-chat", "v1.0")),
    ],
)
def test_parse_ollama_name_accepts_user_name_tag(name, expected):
    assert parse_ollama_name(name) == expected


def test_ollama_name_url_drops_latest_tag():
    assert parse_ollama_name("alice/demo").url == "https://ollama.com/alice/demo"
    assert parse_ollama_name("alice/demo:small").url == "https://ollama.com/alice/demo:small"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("demo", "has no namespace"),
        ("demo:latest", "has no namespace"),
        ("registry.ollama.ai/alice/demo", "not in the form USER/NAME[:TAG]"),
        ("alice/demo:a:b", "not in the form USER/NAME[:TAG]"),
        ("al.ice/demo", "the user 'al.ice'"),
        ("alice/-demo", "the name '-demo'"),
        ("alice/demo:", "the tag ''"),
        ("alice/" + "x" * 81, "at most 80 characters"),
    ],
)
def test_parse_ollama_name_rejects_names_ollama_com_refuses(name, words):
    with pytest.raises(PublishError) as caught:
        parse_ollama_name(name)
    assert words in str(caught.value)
    assert "USER/NAME" in str(caught.value)


@pytest.mark.parametrize("repo_id", ["alice/demo-GGUF", "org.x/model_1.5"])
def test_check_hf_repo_accepts_user_repo(repo_id):
    assert check_hf_repo(repo_id) == repo_id


@pytest.mark.parametrize(
    "repo_id", ["demo", "a/b/c", "alice/de mo", "alice/a--b", "alice/a..b", "alice/-x", "alice/" + "x" * 95]
)
def test_check_hf_repo_rejects_what_the_hub_refuses(repo_id):
    with pytest.raises(PublishError, match="not a Hugging Face repo id.*USER/REPO"):
        check_hf_repo(repo_id)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("gpu-box", "http://gpu-box:11434"),
        ("gpu-box:9999", "http://gpu-box:9999"),
        ("http://gpu-box", "http://gpu-box"),
        ("https://ollama.example.com:8443/", "https://ollama.example.com:8443"),
    ],
)
def test_ollama_base_url_reads_ollama_host_spellings(host, url):
    assert ollama_base_url(host) == url


def test_ollama_base_url_rejects_other_schemes():
    with pytest.raises(PublishError, match="not an Ollama address"):
        ollama_base_url("ftp://box")
