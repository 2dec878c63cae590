"""`tunesmith demo`'s last step against the real Ollama: the package's model is created in the daemon that answers,
ready for `ollama run`; where none answers, nothing is tried and the caller is told so."""

from __future__ import annotations

import socket

import httpx
import pytest

from tunesmith.errors import PublishError
from tunesmith.modelfiles import parse_modelfile
from tunesmith.ollama_local import create_in_ollama, ollama_answers
from tunesmith.packager.package import PackageSpec, build_package


@pytest.fixture(scope="module")
def package(smollm2_tiny_base, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-ollama") / "tiny-demo"
    return build_package(
        PackageSpec(base=smollm2_tiny_base, out=out, quants=("Q8_0",), parameters={"temperature": 0.2, "num_ctx": 512})
    ).path


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening, then released: nothing answers there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_model_is_created_in_the_daemon_with_the_modelfiles_template_and_parameters(real_ollama, package):
    assert create_in_ollama(package, "tiny-demo", host=real_ollama.host) == real_ollama.url
    shown = real_ollama.post("/api/show", {"model": "tiny-demo"})
    modelfile = parse_modelfile((package / "Modelfile").read_text())
    assert shown["template"] == modelfile.template
    assert "temperature 0.2" in " ".join(shown["parameters"].split())
    answer = real_ollama.post(
        "/api/chat",
        {
            "model": "tiny-demo",
            "stream": False,
            "messages": [{"role": "user", "content": "Hi"}],
            "options": {"num_predict": 4, "temperature": 0},
        },
    )
    assert answer["done"]


def test_creating_again_sends_no_blob_twice_and_keeps_the_model(real_ollama, package, monkeypatch):
    create_in_ollama(package, "tiny-demo-again", host=real_ollama.host)
    posted = []
    send = httpx.Client.post
    monkeypatch.setattr(httpx.Client, "post", lambda self, url, **kw: posted.append(url) or send(self, url, **kw))
    assert create_in_ollama(package, "tiny-demo-again", host=real_ollama.host) == real_ollama.url
    assert not [url for url in posted if "/api/blobs/" in str(url)]
    assert real_ollama.post("/api/show", {"model": "tiny-demo-again"})["template"]


def test_without_a_daemon_nothing_is_created_and_none_is_returned(package):
    host = f"127.0.0.1:{_closed_port()}"
    assert not ollama_answers(f"http://{host}")
    assert create_in_ollama(package, "tiny-demo", host=host) is None


def test_a_name_ollama_refuses_is_one_error_that_says_how_to_see_why(real_ollama, package):
    with pytest.raises(PublishError) as raised:
        create_in_ollama(package, "Not A Valid Name!", host=real_ollama.host)
    assert "refused to create Not A Valid Name!" in str(raised.value)
    assert f"ollama create Not A Valid Name! -f {package / 'Modelfile'}" in str(raised.value)
