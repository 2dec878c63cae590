"""The runs list and a run's page in a real browser, against `tunesmith serve --runs` (tests/studio/conftest.py)."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.studio.conftest import KEY, append_metrics, assert_every_control_is_labelled, metrics_rows, screenshot


def test_the_page_asks_for_the_key_then_lists_every_run(open_page, served, api):
    page = open_page(served)  # no key in this tab yet: /v1/runs answers 401 and the page asks for one
    dialog = page.get_by_role("dialog", name="API key")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("no API key given")
    page.get_by_label("Key (kept in this tab only)").fill(KEY)
    page.get_by_role("button", name="Use key").click()

    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#access")).to_have_text("API keys guard this server.")
    runs = {run["id"]: run for run in api.get("/v1/runs").json()["data"]}
    for row in rows.all():
        cells = row.locator("td").all_inner_texts()
        run = runs[cells[0]]
        assert cells[1].endswith(run["status"]), cells  # a symbol, then the status in words
        assert cells[2] == f"{run['step']} / {run['max_steps']}"
        assert float(cells[3]) == float(f"{run['train_loss']:.4g}")
    assert runs["live"]["status"] == "training" and runs["demo"]["status"] == "done"
    expect(page.get_by_role("link", name="demo", exact=True)).to_have_attribute("href", "#/runs/demo")
    assert page.evaluate("sessionStorage.getItem('tunesmith.apiKey')") == KEY
    screenshot(page, "runs")


def test_a_runs_curve_grows_while_it_trains_without_a_reload(open_page, served, runs_folder):
    page = open_page(f"{served}/#/runs/live", key=KEY)
    curve = page.locator("svg.curve path.train-loss")
    expect(curve).to_have_attribute("data-points", "12")
    expect(page.locator(".status-line")).to_contain_text("training")
    page.evaluate("window.notReloaded = true")

    append_metrics(runs_folder / "live", metrics_rows(range(13, 21)))
    expect(curve).to_have_attribute("data-points", "20", timeout=15_000)
    assert len(re.findall(r"[ML]", curve.get_attribute("d"))) == 20
    expect(page.locator("svg.curve path.eval-loss")).to_have_attribute("data-points", "3")  # steps 0, 10 and 20
    expect(page.locator("figure.chart figcaption")).to_contain_text("20 training steps logged")
    assert page.evaluate("window.notReloaded") is True


def test_a_finished_runs_page_shows_its_reports_and_package(open_page, served, runs_folder, api):
    page = open_page(f"{served}/#/runs/demo", key=KEY)
    package = runs_folder / "demo" / "package"
    quality = json.loads((package / "quality.json").read_text())
    section = page.locator("section.package").first
    checks = section.locator("table.quality tbody tr")
    expect(checks).to_have_count(len(quality["checks"]))
    for row, check in zip(checks.all(), quality["checks"], strict=True):
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == check["name"]
        assert cells[3] == ("✓ pass" if check["passed"] else "✗ FAIL")
    assert section.locator("pre.modelfile").inner_text() == (package / "Modelfile").read_text()
    files = dict(
        section.locator("table.files tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
        )
    )
    assert set(files) == {path.name for path in package.iterdir() if path.is_file()}
    assert files["demo-Q8_0.gguf"].endswith("MiB") or files["demo-Q8_0.gguf"].endswith("KiB")

    data = page.locator("section", has=page.get_by_role("heading", name="Data report"))
    expect(data.locator("table").first).to_contain_text("duplicate")
    expect(data).to_contain_text("only 51 training conversations")
    expect(page.locator("svg.curve path.train-loss")).to_have_attribute("data-points", "30")
    models = api.get("/v1/runs/demo").json()["models"]
    compare = page.get_by_role("link", name="Compare its models")
    if len(models) > 1:
        expect(compare).to_have_attribute("href", "#/compare?models=" + ",".join(models))
    assert_every_control_is_labelled(page)
    screenshot(page, "run")
    page.evaluate("document.getElementById('package-h').scrollIntoView()")
    screenshot(page, "run-package")
