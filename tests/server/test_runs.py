"""The runs routes over real run folders: status.json recorded by the trainer's own `recording_status` (training,
failed with the command's message, interrupted when its process is gone), metrics.jsonl rows, train_report.json,
loss.png drawn by the trainer's plot, package folders as the packager lays them out; names that would leave the runs
folder are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from litestar.testing import TestClient

from tests.fixtures.package_folder import write_package
from tunesmith.config import load_config
from tunesmith.errors import DataError
from tunesmith.server import ServerSettings, create_app
from tunesmith.trainer.plot import plot_losses
from tunesmith.trainer.run_dir import claim_run_dir
from tunesmith.trainer.run_status import advance_status, recording_status

ROWS = [
    {"step": 0, "eval_loss": 3.1},
    {"step": 1, "loss": 3.0, "lr": 0.001},
    {"step": 2, "loss": 2.5, "lr": 0.001},
    {"step": 2, "eval_loss": 2.7},
    {"step": 3, "loss": 2.2, "lr": 0.001},
]


def _config(runs: Path, name: str):
    data = runs.parent / "qa.csv"
    data.write_text("question,answer\nhi,hello\n", encoding="utf-8")
    return load_config(None, base=str(runs.parent / "base"), data=[str(data)], output_dir=str(runs / name))


def _metrics(run: Path, rows: list[dict]) -> None:
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


@pytest.fixture
def runs(tmp_path) -> Path:
    """A runs folder: `done` (reports, curve, package and base package), `broken` (failed with a message), and
    `stale` (recorded as training by a process that is gone)."""
    runs = tmp_path / "runs"
    config = _config(runs, "done")
    claim_run_dir(config)  # run.json, as a first prepare writes it: only a run's own folder gets a status
    with recording_status(config, start="preparing", end="done") as done:
        advance_status(done, "training")
        _metrics(done, ROWS)
        plot_losses(ROWS, done / "loss.png", title="done")
        report = {"name": "done", "base": "HuggingFaceTB/SmolLM2-135M-Instruct", "steps": 3, "fit": "good fit"}
        (done / "train_report.json").write_text(json.dumps(report), encoding="utf-8")
        (done / "data").mkdir()
        (done / "data" / "data_report.json").write_text('{"rows_in": 2}', encoding="utf-8")
        advance_status(done, "packaging")
        write_package(done / "package", name="done")
        write_package(done / "base-package", name="SmolLM2", system=None)
    claim_run_dir(_config(runs, "broken"))
    with (
        pytest.raises(DataError),
        recording_status(_config(runs, "broken"), start="preparing", end="done"),
    ):
        raise DataError("no row has an answer", where="qa.csv", hint="Fill the answer column.")
    stale = runs / "stale"
    # A `tunesmith train` that was killed: the status it recorded names a process that no longer runs.
    code = (
        "import sys; from tunesmith.config import load_config; from tunesmith.trainer.run_status import "
        "recording_status, advance_status; from tunesmith.trainer.run_dir import claim_run_dir\n"
        f"c = load_config(None, base={str(tmp_path / 'base')!r}, data=[{str(tmp_path / 'qa.csv')!r}], "
        f"output_dir={str(stale)!r}); claim_run_dir(c)\n"
        "with recording_status(c, start='preparing', end='trained') as root:\n"
        "    advance_status(root, 'training'); sys.stdout.flush(); import os; os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False, timeout=120)
    _metrics(stale, ROWS[:3])
    os.utime(stale / "status.json", (1, 1))
    return runs


@pytest.fixture
def client(runs):
    with TestClient(app=create_app(ServerSettings(runs=str(runs)))) as client:
        yield client


def test_runs_list_newest_first_with_status_progress_losses_and_models(client, runs):
    body = client.get("/v1/runs").json()
    assert body["object"] == "list"
    by_id = {run["id"]: run for run in body["data"]}
    assert set(by_id) == {"done", "broken", "stale"}
    done = by_id["done"]
    assert done["status"] == "done" and done["object"] == "run"
    assert (done["step"], done["max_steps"], done["train_loss"], done["eval_loss"]) == (3, 3, 2.2, 2.7)
    assert done["verdict"] == "good fit" and done["error"] is None
    assert done["base"] == str(runs.parent / "base")
    assert sorted(done["models"]) == ["SmolLM2", "done"]
    updated = [run["updated_at"] for run in body["data"]]
    assert updated == sorted(updated, reverse=True)


def test_a_failed_run_carries_the_message_the_command_printed(client):
    broken = client.get("/v1/runs/broken").json()
    assert broken["status"] == "failed"
    assert broken["error"] == "qa.csv: no row has an answer. Fill the answer column."
    assert broken["package"] is None and broken["train_report"] is None and broken["models"] == []


def test_a_working_run_whose_process_is_gone_is_interrupted(client):
    stale = client.get("/v1/runs/stale").json()
    assert stale["status"] == "interrupted"
    assert "stopped while training" in stale["error"] and "run the same command again" in stale["error"]
    assert (stale["step"], stale["train_loss"], stale["eval_loss"], stale["max_steps"]) == (2, 2.5, 3.1, None)


def test_a_run_at_work_in_a_live_process_says_so(tmp_path):
    runs = tmp_path / "runs"
    claim_run_dir(_config(runs, "live"))
    with recording_status(_config(runs, "live"), start="preparing", end="trained") as root:
        advance_status(root, "training")
        with TestClient(app=create_app(ServerSettings(runs=str(runs)))) as client:
            assert client.get("/v1/runs/live").json()["status"] == "training"
        # The trainer's callback adds the planned total once the Trainer knows it.
        from tunesmith.trainer.run_status import record_max_steps

        record_max_steps(root, 56)
        with TestClient(app=create_app(ServerSettings(runs=str(runs)))) as client:
            assert client.get("/v1/runs/live").json()["max_steps"] == 56
    assert json.loads((root / "status.json").read_text())["status"] == "trained"


def test_run_detail_has_reports_and_packages(client, runs):
    detail = client.get("/v1/runs/done").json()
    assert detail["data_report"] == {"rows_in": 2}
    assert detail["train_report"]["fit"] == "good fit"
    package = detail["package"]
    assert package["model"] == "done" and package["folder"] == str(runs / "done" / "package")
    assert package["modelfile"].startswith("FROM ./done-Q4_K_M.gguf")
    assert package["card"].endswith("# demo\n") and package["quality"] == {"checks": []}
    sizes = {item["name"]: item["bytes"] for item in package["files"]}
    assert set(sizes) == {"Modelfile", "README.md", "quality.json", "done-Q4_K_M.gguf", "done-Q8_0.gguf"}
    assert sizes["done-Q8_0.gguf"] == (runs / "done" / "package" / "done-Q8_0.gguf").stat().st_size
    assert detail["base_package"]["model"] == "SmolLM2"


def test_metrics_from_a_position_on_and_a_torn_last_line_left_for_later(client, runs):
    assert client.get("/v1/runs/done/metrics").json() == {"object": "list", "data": ROWS, "next": 5}
    assert client.get("/v1/runs/done/metrics?after=3").json() == {"object": "list", "data": ROWS[3:], "next": 5}
    with (runs / "done" / "metrics.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"step": 4, "lo')
    assert client.get("/v1/runs/done/metrics?after=5").json() == {"object": "list", "data": [], "next": 5}
    assert client.get("/v1/runs/done/metrics?after=-1").status_code == 400


def test_loss_png_is_the_image_and_404_when_absent(client):
    image = client.get("/v1/runs/done/loss.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    missing = client.get("/v1/runs/broken/loss.png")
    assert missing.status_code == 404 and "no loss curve" in missing.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/runs/nope", 404),
        ("/v1/runs/..", 404),  # the client normalises it to /v1/ before sending
        ("/v1/runs/%2E%2E", 400),
        ("/v1/runs/%2E%2E/metrics", 400),
        ("/v1/runs/..%2Fsecret/loss.png", 404),  # a `/` in a name: no route has that shape
        ("/v1/runs/.hidden", 400),
        ("/v1/runs/outside", 400),
        ("/v1/runs/outside/loss.png", 400),
    ],
)
def test_names_that_leave_the_runs_folder_are_refused(client, runs, tmp_path, path, status):
    secret = tmp_path / "secret"
    secret.mkdir(exist_ok=True)
    plot_losses(ROWS, secret / "loss.png")
    if not (runs / "outside").is_symlink():
        (runs / "outside").symlink_to(secret)
    response = client.get(path)
    assert response.status_code == status and "error" in response.json()
    assert "outside" not in {run["id"] for run in client.get("/v1/runs").json()["data"]}


def test_a_missing_runs_folder_is_an_empty_list(tmp_path):
    settings = ServerSettings(runs=str(tmp_path / "none"), ollama=("http://127.0.0.1:9",), health_interval=3600)
    with TestClient(app=create_app(settings)) as client:
        assert client.get("/v1/runs").json() == {"object": "list", "data": []}


def test_runs_routes_take_the_api_key(runs):
    with TestClient(app=create_app(ServerSettings(runs=str(runs), api_keys=("k",)))) as client:
        assert client.get("/v1/runs").status_code == 401
        assert client.get("/v1/runs/done/loss.png").status_code == 401
        assert client.get("/v1/runs", headers={"Authorization": "Bearer k"}).status_code == 200


def test_a_failed_command_shows_the_message_it_printed(tmp_path):
    data = tmp_path / "qa.csv"
    data.write_text("question,answer\n" + "".join(f"what is {i}?,it is {i}\n" for i in range(20)), encoding="utf-8")
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "tunesmith", "prepare", "--base", "embedded", "--data", str(data)]
    command += ["--output-dir", str(runs / "qa")]
    assert subprocess.run(command, capture_output=True, text=True, timeout=300, check=False).returncode == 0
    # The same run again after its data lost every row: the run folder is its own, so the failure is recorded.
    data.write_text("question,answer\n", encoding="utf-8")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    printed = " ".join(done.stderr.split("error:", 1)[1].split())
    with TestClient(app=create_app(ServerSettings(runs=str(runs)))) as client:
        run = client.get("/v1/runs/qa").json()
    assert run["status"] == "failed" and run["error"] == printed and "no rows" in printed
