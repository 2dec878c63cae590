"""The server's publish jobs: POST /v1/publish starts one, GET /v1/publish/{id} reports its steps and outcome.

The routes are registered on the real app (`create_app`), behind its API key guard and error handlers; the jobs run
the same `publish_package` as the CLI against the fake Hub and a pytest-httpx Ollama daemon.

Why fakes: the Hub and ollama.com cannot be reached from here.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from tests.fixtures.package_folder import write_package
from tests.publish.test_hub import REPO, TOKEN, hub  # noqa: F401  (the fake Hub fixture)
from tests.publish.test_ollama_registry import DAEMON, _daemon, _push_ok, ndjson
from tunesmith.server.jobs import PublishJobs

KEY = "sk-publish-test"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def package(tmp_path):
    return write_package(tmp_path / "demo")


@pytest.fixture
def client(serve_ollama, package):
    return serve_ollama(
        {"http://upstream:11434": ["llama3.2"]},
        api_keys=(KEY,),
        publish_jobs=PublishJobs((str(package),), ollama_host=DAEMON),
    )


def wait_for_job(client, job_id: str, headers: dict) -> dict:
    """GET /v1/publish/{id} until the job has succeeded or failed (20 s at most); the job as it ended."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = client.get(f"/v1/publish/{job_id}", headers=headers).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish: {body}")


def test_publish_needs_the_api_key_when_keys_are_configured(client, package, httpx_mock):
    response = client.post("/v1/publish", json={"package": str(package), "ollama": "alice/demo"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert client.get("/v1/publish/pub_x").status_code == 401
    assert not [request for request in httpx_mock.get_requests() if request.url.host == "127.0.0.1"]


def test_a_job_publishes_to_ollama_and_reports_every_step(client, package, httpx_mock):
    gguf = (package / "demo-Q4_K_M.gguf").read_bytes()
    digest = hashlib.sha256(gguf).hexdigest()
    _daemon(httpx_mock, digest, push=_push_ok(digest, len(gguf)))

    response = client.post("/v1/publish", json={"package": str(package), "ollama": "alice/demo"}, headers=AUTH)
    assert response.status_code == 202
    started = response.json()
    assert started["object"] == "job" and started["kind"] == "publish" and started["id"].startswith("pub_")
    assert response.headers["location"] == f"/v1/publish/{started['id']}"
    assert started["targets"] == {"ollama": "alice/demo"}

    done = wait_for_job(client, started["id"], AUTH)
    assert done["status"] == "succeeded", done
    assert done["results"] == {"ollama": "https://ollama.com/alice/demo"}
    assert done["error"] is None and done["finished_at"] >= done["created_at"]
    steps = {step["name"]: step for step in done["steps"]}
    assert list(steps) == [
        "hashing 1 file(s)",
        "copying demo-Q4_K_M.gguf to Ollama",
        "creating alice/demo:latest in Ollama",
        f"pushing {digest[:12]}",
        "pushing 222222222222",
    ]
    assert steps["copying demo-Q4_K_M.gguf to Ollama"] == {
        "name": "copying demo-Q4_K_M.gguf to Ollama",
        "status": "done",
        "completed": len(gguf),
        "total": len(gguf),
    }
    assert all(step["status"] == "done" for step in done["steps"])
    create = next(request for request in httpx_mock.get_requests() if request.url.path == "/api/create")
    assert json.loads(create.content)["model"] == "alice/demo:latest"


def test_a_job_publishes_to_the_hub_and_ollama_with_the_servers_login(client, package, httpx_mock, hub):  # noqa: F811
    digest = hashlib.sha256((package / "demo-Q4_K_M.gguf").read_bytes()).hexdigest()
    _daemon(httpx_mock, digest, has_blob=True, push=_push_ok(digest, 10))
    body = {"package": str(package), "hf": REPO, "ollama": "alice/demo:v1", "private": False}
    job = client.post("/v1/publish", json=body, headers=AUTH).json()
    done = wait_for_job(client, job["id"], AUTH)
    assert done["results"] == {"hf": f"https://huggingface.co/{REPO}", "ollama": "https://ollama.com/alice/demo:v1"}
    assert hub.repos[REPO]["visibility"] == "public"
    assert set(hub.committed) == {path.name for path in package.iterdir()} | {"template", "system", "params"}
    assert any("Ollama already has demo-Q4_K_M.gguf" in note for note in done["notes"])


def test_a_failed_job_says_why_and_what_to_do_without_secrets(client, package, httpx_mock, hub):  # noqa: F811
    hub.fail[("POST", "/api/repos/create")] = 401
    job = client.post("/v1/publish", json={"package": str(package), "hf": REPO}, headers=AUTH).json()
    done = wait_for_job(client, job["id"], AUTH)
    assert done["status"] == "failed"
    assert "the Hub did not accept the token" in done["error"]["message"]
    assert "hf auth login" in done["error"]["message"]
    assert done["steps"][-1]["status"] == "failed"
    assert TOKEN not in json.dumps(done)


def test_a_push_refused_by_ollama_com_fails_the_job_with_the_sign_in_hint(client, package, httpx_mock):
    digest = hashlib.sha256((package / "demo-Q4_K_M.gguf").read_bytes()).hexdigest()
    _daemon(
        httpx_mock,
        digest,
        has_blob=True,
        push=ndjson({"status": "retrieving manifest"}, {"error": "unauthorized: access denied"}),
    )
    job = client.post("/v1/publish", json={"package": str(package), "ollama": "alice/demo"}, headers=AUTH).json()
    done = wait_for_job(client, job["id"], AUTH)
    assert done["status"] == "failed" and done["results"] == {}
    assert "ollama.com refused the push" in done["error"]["message"]
    assert "https://ollama.com/settings/keys" in done["error"]["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "nothing to publish to"),
        ({"ollama": "demo"}, "has no namespace"),
        ({"hf": "not a repo"}, "is not a Hugging Face repo id"),
        ({"ollama": "alice/demo", "package": "/elsewhere/pkg"}, "is not a package this server serves"),
        ({"ollama": "alice/demo", "force": True}, "force"),
    ],
    ids=["no target", "bad ollama name", "bad hf repo", "not served", "unknown field"],
)
def test_bad_publish_requests_are_400_with_the_openai_error_body(client, package, httpx_mock, body, words):
    response = client.post("/v1/publish", json={"package": str(package), **body}, headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert words in error["message"]
    assert not [request for request in httpx_mock.get_requests() if request.url.host == "127.0.0.1"]


def test_an_unknown_job_is_404_with_the_openai_error_body(client):
    response = client.get("/v1/publish/pub_missing", headers=AUTH)
    assert response.status_code == 404
    assert "no publish job 'pub_missing'" in response.json()["error"]["message"]


def test_the_server_forgets_the_oldest_finished_jobs_beyond_a_hundred(package):
    jobs = PublishJobs((str(package),), runner=lambda *args, **kwargs: {"ollama": "alice/demo:latest"})
    started = [jobs.start(str(package), hf=None, ollama="alice/demo") for _ in range(102)]
    deadline = time.monotonic() + 20
    while any(job.finished_at is None for job in started) and time.monotonic() < deadline:
        time.sleep(0.01)
    newest = jobs.start(str(package), hf=None, ollama="alice/demo")
    assert jobs.get(started[0].id) is None and jobs.get(started[1].id) is None
    assert jobs.get(started[2].id) is started[2] and jobs.get(newest.id) is newest
    assert started[2].as_dict()["results"] == {"ollama": "alice/demo:latest"}
