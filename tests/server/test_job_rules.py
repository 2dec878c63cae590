"""The rules of the jobs routes that need no training to show: one run at a time (the next queued, and cancelled
before it starts), secrets never in a job, a crash told apart from an error, who may start or cancel work without
API keys, and publishing the package of a run under --runs.

Why a stand-in command: these rules are the server's, not the command's; a few lines of Python that speak the
command's --progress-json lines and print its `error:` paragraph show them in milliseconds. test_job_routes.py runs
the real `tunesmith run`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from tests.fixtures.package_folder import write_package
from tunesmith.server import ServerSettings, create_app
from tunesmith.server.job_runners import RunJobs
from tunesmith.server.jobs import JobRegistry

TOKEN = "hf_" + "x" * 30
# The stand-in: a step, a note naming the token, then whatever its project's `name` asks for.
COMMAND = """
import json, os, sys, time
from pathlib import Path
args = sys.argv[1:]
lines = open(args[args.index("--progress-json") + 1], "w")
write = lambda line: (lines.write(json.dumps(line) + "\\n"), lines.flush())
write({"step": 0, "name": "Reading data sources", "total": 2})
write({"step": 0, "advance": 1})
write({"note": "logged in with " + os.environ["HF_TOKEN"]})
name = Path(args[1]).read_text().split("name: ")[1].split()[0]
if name == "fails":
    other = "hf_" + "y" * 30  # a token from elsewhere, blanked by its shape
    sys.stderr.write("• a note\\nerror: qa.csv: line 3 (" + os.environ["HF_TOKEN"] + ", " + other + ").\\n")
    sys.exit(2)
if name == "crashes":
    sys.stderr.write("Traceback (most recent call last):\\n  File x\\nZeroDivisionError: division by zero\\n")
    sys.exit(1)
if name == "waits":
    while not Path(args[1]).with_name("go").exists():
        time.sleep(0.05)
write({"step": 0, "status": "done"})
"""


def project(folder: Path, name: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\nbase: some-model\ndata:\n  - path: qa.csv\n", encoding="utf-8")
    return path


@pytest.fixture
def runs(tmp_path) -> Path:
    (tmp_path / "runs").mkdir()
    return tmp_path / "runs"


@pytest.fixture
def app(tmp_path, runs):
    """The app, without API keys, its run jobs running the stand-in command."""
    script = tmp_path / "command.py"
    script.write_text(COMMAND, encoding="utf-8")
    run_jobs = RunJobs(
        str(runs),
        JobRegistry(grace=2),
        command=(sys.executable, str(script)),
        environ={"PATH": "/usr/bin:/bin", "HF_TOKEN": TOKEN},
    )
    return create_app(ServerSettings(runs=str(runs)), run_jobs=run_jobs)


@pytest.fixture
def client(app):
    with TestClient(app) as client:
        yield client


def finished(client: TestClient, job_id: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["finished_at"] is not None:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_a_failed_command_gives_its_error_paragraph_and_no_secret(client, tmp_path):
    job = client.post("/v1/runs", json={"config": str(project(tmp_path, "fails"))}).json()
    failed = finished(client, job["id"])
    assert failed["status"] == "failed"
    assert failed["error"] == {"message": "qa.csv: line 3 (***, hf_***)."}
    assert failed["notes"] == ["logged in with ***"]
    assert failed["steps"] == [{"name": "Reading data sources", "status": "failed", "completed": 1, "total": 2}]
    assert TOKEN not in str(client.get("/v1/jobs").json())


def test_a_crash_says_how_the_command_ended_and_points_to_the_log(client, tmp_path, caplog):
    job = client.post("/v1/runs", json={"config": str(project(tmp_path, "crashes"))}).json()
    message = finished(client, job["id"])["error"]["message"]
    assert message == (
        "`tunesmith run` stopped unexpectedly (exit status 1): ZeroDivisionError: division by zero; see the server log"
    )
    assert "Traceback (most recent call last)" in caplog.text


def test_runs_wait_their_turn_and_a_queued_one_is_cancelled_before_it_starts(client, tmp_path, runs):
    first = client.post("/v1/runs", json={"config": str(project(tmp_path, "waits"))}).json()
    second = client.post("/v1/runs", json={"config": str(project(tmp_path, "next"))}).json()
    assert client.get(f"/v1/jobs/{second['id']}").json()["status"] == "queued"
    busy = client.post("/v1/runs", json={"config": str(project(tmp_path, "waits"))})
    assert busy.status_code == 409 and first["id"] in busy.json()["error"]["message"]

    cancelled = client.post(f"/v1/jobs/{second['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["steps"] == []
    (tmp_path / "go").touch()
    assert finished(client, first["id"])["status"] == "succeeded"
    assert client.get(f"/v1/jobs/{second['id']}").json()["steps"] == []
    third = client.post("/v1/runs", json={"config": str(project(tmp_path, "next"))}).json()
    done = finished(client, third["id"])
    assert done["status"] == "succeeded" and done["run"] == "next"
    assert done["results"] == {"package": str(runs / "next" / "package")}


def test_without_api_keys_only_this_machine_may_start_or_cancel_jobs(app, tmp_path):
    starts = [("/v1/runs", {"config": str(project(tmp_path, "next"))}), ("/v1/runs/next/package", None)]
    starts.append(("/v1/jobs/run_x/cancel", None))

    async def ask(host: str) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=(host, 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://studio") as client:
            answers = [await client.post(path, json=body) for path, body in starts]
            return [*answers, await client.get("/v1/jobs")]

    remote = asyncio.run(ask("203.0.113.7"))
    assert [answer.status_code for answer in remote] == [403, 403, 403, 200]
    assert all("--api-key" in answer.json()["error"]["message"] for answer in remote[:3])
    local = asyncio.run(ask("127.0.0.1"))
    assert [answer.status_code for answer in local[1:]] == [404, 404, 200]
    assert local[0].status_code == 202


def test_a_publish_job_takes_the_package_of_a_run_under_runs(tmp_path, runs):
    package = write_package(runs / "demo" / "package")
    with TestClient(create_app(ServerSettings(runs=str(runs)))) as client:
        response = client.post("/v1/publish", json={"package": str(package), "ollama": "demo"})
        assert response.status_code == 400 and "has no namespace" in response.json()["error"]["message"]
        elsewhere = write_package(tmp_path / "elsewhere")
        response = client.post("/v1/publish", json={"package": str(elsewhere), "ollama": "alice/demo"})
        assert response.status_code == 400 and "not a package this server serves" in response.text
