"""Run and package jobs: POST /v1/runs starts the real `tunesmith run` in a child process on a tiny model, GET
/v1/jobs/{id} follows its steps, a failure reads as the command line prints it, a cancel stops the command.

The app is the real one (`create_app`) with a runs folder and no Ollama; the commands are the real CLI, compared with
the same command run here directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from tests.trainer.helpers import write_jsonl, write_qa_csv
from tunesmith.server import ServerSettings, create_app

pytestmark = pytest.mark.timeout(900)


def project(folder: Path, base: Path, *, data: Path | None = None, steps: int = 2, extra: str = "") -> Path:
    """A project file training `base` for `steps` steps on the adder CSV (or `data`), packaged as F16."""
    data = data or write_qa_csv(folder / "qa.csv")
    config = folder / "adder.yaml"
    config.write_text(
        f"name: adder\nbase: {base}\ndata:\n  - path: {data}\n"
        f"train:\n  max_steps: {steps}\n  eval_steps: 2\n  max_seq_len: 64\n  learning_rate: 0.01\n"
        f"package:\n  quant: [F16]\n{extra}",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def client(tmp_path):
    (tmp_path / "runs").mkdir()
    with TestClient(create_app(ServerSettings(runs=str(tmp_path / "runs")))) as client:
        yield client


def wait_for(client: TestClient, job_id: str, done=lambda job: job["finished_at"] is not None, timeout=600) -> dict:
    """GET /v1/jobs/{id} until `done(job)` holds; the job then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if done(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not get there: {job}")


def cli_message(*args: str, cwd: Path) -> str:
    """What `tunesmith ARGS` prints after `error:` when it fails, run here directly."""
    result = subprocess.run(
        [sys.executable, "-m", "tunesmith", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stderr
    return result.stderr.split("error: ", 1)[1].strip()


def test_a_run_job_trains_and_packages_with_its_steps_then_a_package_job_packages_it_again(
    client, tiny_model, tmp_path
):
    config = project(tmp_path, tiny_model("llama"))
    response = client.post("/v1/runs", json={"config": str(config), "overrides": ["train.max_steps=3"]})
    assert response.status_code == 202, response.text
    started = response.json()
    assert response.headers["location"] == f"/v1/jobs/{started['id']}"
    assert started["object"] == "job" and started["kind"] == "run" and started["run"] == "adder"
    assert started["targets"] == {"config": str(config), "overrides": ["train.max_steps=3"]}

    done = wait_for(client, started["id"])
    assert done["status"] == "succeeded", done
    run = tmp_path / "runs" / "adder"
    assert done["package"] == str(run / "package") and done["results"] == {"package": str(run / "package")}
    assert (run / "package" / "adder-F16.gguf").is_file() and (run / "project.yaml").is_file()
    steps = {step["name"]: step for step in done["steps"]}
    assert steps["training"] == {"name": "training", "status": "done", "completed": 3, "total": 3}
    assert steps["Reading data sources"]["total"] == 1 and "Writing model-f16.gguf" in steps
    assert all(step["status"] == "done" for step in done["steps"])
    assert "step 2/2: package" in done["notes"]  # notes without rich markup
    assert client.get("/v1/jobs").json()["data"][0]["id"] == started["id"]

    (run / "package" / "Modelfile").unlink()
    packaging = client.post("/v1/runs/adder/package")
    assert packaging.status_code == 202, packaging.text
    packaged = wait_for(client, packaging.json()["id"])
    assert packaged["kind"] == "package" and packaged["status"] == "succeeded", packaged
    assert (run / "package" / "Modelfile").is_file()
    assert any(step["name"] == "Writing model-f16.gguf" for step in packaged["steps"])
    assert any("packaging again" in note for note in packaged["notes"])
    listed = [job["id"] for job in client.get("/v1/jobs").json()["data"]]
    assert listed == [packaged["id"], started["id"]]


def test_a_failure_found_while_running_is_the_message_the_cli_prints(client, tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "chats.jsonl", [{"prompt": "1 + 1?", "response": "2"}] * 8)
    with data.open("a", encoding="utf-8") as handle:
        handle.write('{"prompt": "2 + 2?", "response": \n')
    config = project(tmp_path, tiny_model("llama"), data=data)
    job = client.post("/v1/runs", json={"config": str(config)}).json()
    failed = wait_for(client, job["id"])
    assert failed["status"] == "failed"
    expected = cli_message("run", str(config), "--output-dir", str(tmp_path / "cli-run"), cwd=tmp_path)
    assert "line 9 is not valid JSON" in expected
    assert failed["error"] == {"message": expected}
    assert failed["steps"][-1]["status"] == "failed"


def test_cancel_stops_the_command_and_leaves_the_run_folder_consistent(client, tiny_model, tmp_path):
    config = project(tmp_path, tiny_model("llama"), steps=100_000)
    job = client.post("/v1/runs", json={"config": str(config)}).json()

    def training(job: dict) -> bool:
        assert job["finished_at"] is None, job
        return any(step["name"] == "training" and step["completed"] >= 1 for step in job["steps"])

    wait_for(client, job["id"], training)
    run = tmp_path / "runs" / "adder"
    pid = json.loads((run / "status.json").read_text())["pid"]
    response = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled" and cancelled["error"] is None
    assert cancelled["finished_at"] is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert [step["status"] for step in cancelled["steps"] if step["name"] == "training"] == ["failed"]
    # The command unwound as on Ctrl+C: its status says so, and no half-written file is left behind.
    assert json.loads((run / "status.json").read_text())["status"] == "interrupted"
    assert not list(run.rglob("*.partial"))
    again = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]["message"]


def test_bad_input_is_refused_at_once_with_the_clis_message_and_starts_no_job(client, tiny_model, tmp_path):
    not_yaml = tmp_path / "notes.txt"
    not_yaml.write_text("base: [unclosed\n", encoding="utf-8")
    config = project(tmp_path, tiny_model("llama"))
    cases = [
        ([str(tmp_path / "missing.yaml")], {"config": str(tmp_path / "missing.yaml")}),
        ([str(not_yaml)], {"config": str(not_yaml)}),
        ([str(config), "--set", "train.max_steps=-1"], {"config": str(config), "overrides": ["train.max_steps=-1"]}),
        ([str(config), "--set", "nonsense"], {"config": str(config), "overrides": ["nonsense"]}),
    ]
    for args, body in cases:
        response = client.post("/v1/runs", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"] == cli_message("run", *args, cwd=tmp_path)

    assert client.post("/v1/runs/nothing-here/package").status_code == 404
    assert client.post("/v1/runs/.hidden/package").status_code == 400  # a name that is not a run's, as GET says
    (tmp_path / "runs" / "half").mkdir()
    response = client.post("/v1/runs/half/package")
    assert response.status_code == 400
    half = str(tmp_path / "runs" / "half")
    assert response.json()["error"]["message"] == cli_message("package", "--run", half, cwd=tmp_path)
    assert client.get("/v1/jobs").json()["data"] == []
    assert client.get("/v1/jobs/run_missing").status_code == 404
    assert client.post("/v1/jobs/run_missing/cancel").status_code == 404
