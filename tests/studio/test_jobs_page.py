"""Jobs from the page in a real browser: a publish to the Hub reaching done, a publish and a run that fail with the
job's own error, a cancelled run, and jobs that outlive a page reload.

Why in-process: the Hub cannot be reached from here, and its fake (tests/publish/test_hub.py) is plugged into
huggingface_hub inside this process, where the server's publish jobs run as threads; so this server is the real app
(`create_app`, what `tunesmith serve` runs) under uvicorn in a thread of the test, on a real socket the browser uses.
It has no API keys, so the page says it is served to this machine only.
"""

from __future__ import annotations

import re
import shutil

import httpx
import pytest
from playwright.sync_api import expect

from tests.publish.test_hub import REPO, hub  # noqa: F401  (the fake Hub fixture)
from tests.server.live import running
from tests.studio.conftest import assert_every_control_is_labelled, screenshot
from tunesmith.server import ServerSettings, create_app


@pytest.fixture(scope="module")
def local_studio(runs_folder, tmp_path_factory):
    """The app without keys over a runs folder holding a copy of the demo run; (base URL, runs folder)."""
    runs = tmp_path_factory.mktemp("jobs") / "runs"
    shutil.copytree(runs_folder / "demo", runs / "demo")
    app = create_app(ServerSettings(runs=str(runs), health_interval=3600))
    with running(app) as url:
        yield url, runs


def job_of(url: str, job_id: str) -> dict:
    return httpx.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()


def publish_from_models_page(page, repo: str):
    page.get_by_label("Hugging Face repo").fill(repo)
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"#/jobs\?job="))
    return page.url.rpartition("job=")[2]


def test_a_publish_to_the_hub_reaches_done_with_its_steps(open_page, local_studio, hub):  # noqa: F811
    url, runs = local_studio
    page = open_page(f"{url}/#/models")
    expect(page.locator("#access")).to_have_text("Served to this machine only: no API keys.")
    package = page.get_by_label("Package folder")
    expect(package).to_have_value(str((runs / "demo" / "package").resolve()))
    expect(page.locator("table.models tbody tr").first).to_be_visible()
    assert_every_control_is_labelled(page)
    screenshot(page, "models")

    job_id = publish_from_models_page(page, REPO)
    card = page.locator(f"article.job[data-job='{job_id}']")
    expect(card).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(card.locator(".results a")).to_have_text(f"https://huggingface.co/{REPO}")
    job = job_of(url, job_id)
    steps = card.locator("li.step")
    expect(steps).to_have_count(len(job["steps"]))
    for item, step in zip(steps.all(), job["steps"], strict=True):
        assert item.locator(".step-name").inner_text() == step["name"]
        bar = item.get_by_role("progressbar", name=step["name"])
        if step["total"]:
            assert float(bar.get_attribute("value")) == float(bar.get_attribute("max")) == step["total"]
    assert set(hub.committed) >= {path.name for path in (runs / "demo" / "package").iterdir()}
    expect(card.get_by_role("button", name="Cancel")).to_be_hidden()

    page.reload()  # jobs live in the server: the finished job is still listed
    expect(page.locator(f"article.job[data-job='{job_id}']")).to_have_attribute("data-status", "succeeded")
    assert_every_control_is_labelled(page)
    screenshot(page, "jobs")


def test_a_failed_publish_shows_the_jobs_own_error(open_page, local_studio, hub):  # noqa: F811
    url, _ = local_studio
    hub.fail[("POST", "/api/repos/create")] = 401
    page = open_page(f"{url}/#/models")
    job_id = publish_from_models_page(page, REPO)
    card = page.locator(f"article.job[data-job='{job_id}']")
    expect(card).to_have_attribute("data-status", "failed", timeout=30_000)
    error = job_of(url, job_id)["error"]["message"]
    assert "the Hub did not accept the token" in error
    assert card.locator(".job-error").inner_text() == error
    expect(card.get_by_role("alert")).to_contain_text("Failed:")


def test_a_run_is_cancelled_and_a_failing_run_shows_the_commands_error(open_page, local_studio, tmp_path):
    url, _ = local_studio
    (tmp_path / "faq.csv").write_text("question,answer\nWhat is it?,A tool.\n", encoding="utf-8")
    config = tmp_path / "project.yaml"
    missing = tmp_path / "no-such-base"
    config.write_text(f"name: broken\nbase: {missing}\ndata:\n  - path: faq.csv\n", encoding="utf-8")
    page = open_page(f"{url}/#/jobs")

    def start_run() -> str:
        page.get_by_label("Project file").fill(str(config))
        page.get_by_label("Overrides").fill("train.max_steps=5")
        page.get_by_role("button", name="Start run").click()
        expect(page).to_have_url(re.compile(r"#/jobs\?job="))
        return page.url.rpartition("job=")[2]

    cancelled = start_run()
    card = page.locator(f"article.job[data-job='{cancelled}']")
    card.get_by_role("button", name="Cancel").click()
    expect(card).to_have_attribute("data-status", "cancelled", timeout=30_000)
    expect(card.locator(".job-status")).to_contain_text("cancelled")

    page.goto(f"{url}/#/jobs")  # the start form is open again
    failed = start_run()
    card = page.locator(f"article.job[data-job='{failed}']")
    expect(card).to_have_attribute("data-status", "failed", timeout=90_000)
    error = job_of(url, failed)["error"]["message"]
    assert "base model folder does not exist" in error and str(missing) in error
    assert card.locator(".job-error").inner_text() == error
    expect(card.locator("h2")).to_contain_text("run broken")
