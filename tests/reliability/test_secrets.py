"""The Hub token and the server's API key appear nowhere tunesmith writes: output, logs, errors, files, uploads.

HF_TOKEN and the API key are canaries; every path that handles them runs (train, package, publish to a fake Hub and
a pytest-httpx Ollama, serve), failing publishes included, with huggingface_hub's own debug logging on. Then each
captured line, error body, file under the output folders, file committed to the Hub and request sent to Ollama is
searched for the secrets (whole, and a distinctive middle part in case one is cut short).

Why fakes: the Hub cannot be reached from here, and the Ollama push needs ollama.com.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import constants as hub_constants
from huggingface_hub.utils._http import default_client_factory, hf_request_event_hook, set_client_factory

from tests.publish.test_hub import REPO, FakeHub
from tests.publish.test_ollama_registry import DAEMON, _daemon, _push_ok
from tests.reliability.conftest import assert_clean_failure
from tests.server.conftest import UPSTREAM_A, serve_ollama  # noqa: F401  (the app over a fake Ollama)
from tests.server.test_publish_routes import wait_for_job
from tests.trainer.helpers import write_qa_csv
from tunesmith.server import ServerSettings, create_app
from tunesmith.server.jobs import PublishJobs

TOKEN = "hf_CanaryTokenReliability7f3a9c2e5b1d"
API_KEY = "sk-canary-api-key-4e8d2a6c0f"
SECRETS = (TOKEN, TOKEN[3:19], API_KEY, API_KEY[3:20])


def assert_secret_free(label: str, data: str | bytes) -> None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {label}"


def assert_tree_secret_free(folder: Path) -> int:
    """Every file under `folder`, hidden ones included; returns how many were searched."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    for path in files:
        assert_secret_free(str(path), path.read_bytes())
    return len(files)


@pytest.fixture
def hub(monkeypatch, caplog):
    """The fake Hub; `hub.echo[(method, path)] = status` answers with an error that quotes the Authorization header,
    as a careless proxy does."""
    fake = FakeHub()
    fake.echo = {}

    def handler(request: httpx2.Request) -> httpx2.Response:
        status = fake.echo.get((request.method, request.url.path))
        if status is None:
            return fake.handler(request)
        request.read()
        fake.requests.append(request)
        said = f"Invalid credentials in Authorization header: {request.headers.get('authorization')}"
        return httpx2.Response(status, json={"error": said})

    monkeypatch.setattr(hub_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(hub_constants, "HF_DEBUG", True)  # huggingface_hub logs every request as a curl command
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("TUNESMITH_API_KEYS", API_KEY)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")
    set_client_factory(
        lambda: httpx2.Client(
            transport=httpx2.MockTransport(handler),
            follow_redirects=True,
            event_hooks={"request": [hf_request_event_hook]},
        )
    )
    yield fake
    set_client_factory(default_client_factory)


def assert_uploads_secret_free(hub: FakeHub, httpx_mock) -> None:
    for name, data in hub.committed.items():
        assert_secret_free(f"the Hub file {name}", data)
    for request in hub.requests:
        assert_secret_free(f"the body of {request.method} {request.url}", request.content)
        if request.url.host != "huggingface.co":
            assert_secret_free(f"the headers of {request.method} {request.url}", str(request.headers))
    for request in httpx_mock.get_requests():
        assert_secret_free(f"{request.method} {request.url}", str(request.headers).encode() + request.content)


@pytest.mark.parametrize(
    ("fail", "words"),
    [
        ({("POST", "/api/repos/create"): 401}, ["the Hub did not accept the token", "HF_TOKEN"]),
        ({("POST", "/api/repos/create"): 403}, ["may not write to alice/demo-GGUF"]),
        ({("POST", f"/api/models/{REPO}/preupload/main"): 401}, ["the Hub did not accept the token"]),
        ({("POST", f"/api/models/{REPO}/commit/main"): 500}, ["alice/demo-GGUF"]),
    ],
    ids=["401 on create", "403 on create", "401 on preupload", "500 on commit"],
)
def test_a_failing_hub_publish_never_shows_the_token(cli, hub, release, caplog, httpx_mock, fail, words):
    hub.echo.update(fail)
    outcome = cli("publish", release / "pkg", "--hf", REPO)
    assert_clean_failure(outcome, *words)
    assert "curl" in caplog.text  # the debug log ran, headers and all
    for label, text in (("stdout", outcome.out), ("stderr", outcome.err), ("the log", caplog.text)):
        assert_secret_free(label, text)
    assert_tree_secret_free(release)
    assert_uploads_secret_free(hub, httpx_mock)


def test_a_broken_connection_that_quotes_the_token_is_scrubbed(cli, hub, release, caplog):
    hub.fail[("POST", "/api/repos/create")] = httpx2.ConnectError(f"proxy refused Bearer {TOKEN}")
    outcome = cli("publish", release / "pkg", "--hf", REPO)
    assert_clean_failure(outcome, "the connection to the Hub broke")
    assert_secret_free("stderr", outcome.err)
    assert_secret_free("the log", caplog.text)


def test_a_failing_publish_job_on_the_server_shows_neither_secret(
    hub,
    serve_ollama,  # noqa: F811 (the app over a fake Ollama)
    release,
    caplog,
    httpx_mock,
):
    hub.echo[("POST", "/api/repos/create")] = 401
    auth = {"Authorization": f"Bearer {API_KEY}"}
    client = serve_ollama(
        {UPSTREAM_A: ["llama3.2:latest"]},
        api_keys=(API_KEY,),
        publish_jobs=PublishJobs((str(release / "pkg"),), ollama_host=DAEMON),
    )
    started = client.post("/v1/publish", json={"package": str(release / "pkg"), "hf": REPO}, headers=auth)
    assert started.status_code == 202
    job = wait_for_job(client, started.json()["id"], auth)
    refused = client.post(
        "/v1/publish",
        json={"package": str(release / "pkg"), "hf": REPO},
        headers={"Authorization": f"Bearer {API_KEY[:-1]}x"},
    )
    assert job["status"] == "failed" and "the Hub did not accept the token" in job["error"]["message"]
    assert refused.status_code == 401
    for label, text in (
        ("the job", json.dumps(job)),
        ("the 202", started.text),
        ("the 401", refused.text),
        ("the log", caplog.text),
    ):
        assert_secret_free(label, text)
    assert_uploads_secret_free(hub, httpx_mock)


def test_serve_settings_errors_do_not_echo_the_api_key(cli, monkeypatch, caplog):
    import uvicorn

    monkeypatch.setenv("TUNESMITH_API_KEYS", API_KEY)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: pytest.fail("the server started"))
    outcome = cli("serve", "--api-key", API_KEY, "--port", "70000")
    assert_clean_failure(outcome, "port must be between 1 and 65535")
    assert_secret_free("serve's output", outcome.out + outcome.err + caplog.text)


def test_serve_started_with_a_key_logs_no_key(cli, monkeypatch, caplog):
    import uvicorn

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(kwargs))
    caplog.set_level(logging.DEBUG)
    outcome = cli("serve", "--api-key", API_KEY, "--port", "8123", "--ollama", "http://127.0.0.1:9")
    assert outcome.code == 0 and started["port"] == 8123
    assert "1 API key(s)" in outcome.err
    assert_secret_free("serve's output", outcome.out + outcome.err + caplog.text)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_train_package_publish_serve_with_secrets_set_write_them_nowhere(
    cli, hub, tiny_model, tmp_path, caplog, httpx_mock
):
    from litestar.testing import TestClient

    base = tiny_model("llama")  # SmolLM2's tokenizer, which the GGUF converter knows
    run = tmp_path / "runs" / "canary"
    data = write_qa_csv(tmp_path / "qa.csv")
    outputs = []

    trained = cli(
        "train",
        "--base",
        base,
        "--data",
        data,
        "--output-dir",
        run,
        "--max-steps",
        "2",
        "--set",
        "train.max_seq_len=64",
        "--set",
        "train.eval_steps=2",
    )
    outputs.append(trained)
    assert trained.code == 0, trained.err
    heldout = tmp_path / "heldout.txt"  # a short perplexity text keeps the quality report quick
    heldout.write_text("The quick brown fox jumps over the lazy dog while the farmer counts sheep. " * 3)
    packaged = cli(
        "package",
        "--base",
        base,
        "--adapter",
        run / "adapter",
        "--out",
        run / "package",
        "--name",
        "canary",
        "--quant",
        "Q8_0",
        "--system",
        "You answer briefly.",
        "--eval-text",
        heldout,
    )
    outputs.append(packaged)
    assert packaged.code == 0, packaged.err

    gguf = run / "package" / "canary-Q8_0.gguf"
    _daemon(httpx_mock, hashlib.sha256(gguf.read_bytes()).hexdigest(), push=_push_ok("0" * 64, 10))
    published = cli("publish", run / "package", "--hf", REPO, "--ollama", "alice/canary")
    outputs.append(published)
    assert published.code == 0, published.err
    assert hub.committed["Modelfile"] == (run / "package" / "Modelfile").read_bytes()

    auth = {"Authorization": f"Bearer {API_KEY}"}
    app = create_app(ServerSettings(models=(str(run / "package"),), api_keys=(API_KEY,), health_interval=3600))
    with TestClient(app) as client:
        chat = {"model": "canary", "messages": [{"role": "user", "content": "What is 2 plus 3?"}], "max_tokens": 4}
        answered = client.post("/v1/chat/completions", json=chat, headers=auth)
        refused = client.post("/v1/chat/completions", json=chat, headers={"Authorization": "Bearer sk-wrong"})
        listed = client.get("/v1/models", headers=auth)
    assert answered.status_code == 200, answered.text
    assert refused.status_code == 401 and listed.status_code == 200

    for index, outcome in enumerate(outputs):
        assert_secret_free(f"the output of command {index}", outcome.out + outcome.err)
    for label, response in (("the chat", answered), ("the 401", refused), ("the models", listed)):
        assert_secret_free(label, response.text + str(response.headers))
    assert_secret_free("the log", caplog.text)
    assert assert_tree_secret_free(tmp_path) >= 10  # run.json, data, adapter, checkpoints, reports, package...
    written = {path.name for path in (run / "package").iterdir()}
    assert {"README.md", "Modelfile", "quality.json", "canary-Q8_0.gguf"} <= written
    assert_uploads_secret_free(hub, httpx_mock)
