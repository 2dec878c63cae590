"""Fixtures of the studio's browser tests: Debian's chromium driven by Playwright, a runs folder of scripted models,
and a real `tunesmith serve` over it.

The browser is the system's chromium (`make browser` installs it), never a Playwright download. The server is the
real command in its own process, on a free port, with an API key, over a runs folder written here: a finished run
packaged twice (the tuned model and its base, each a scripted tiny model whose greedy reply is known) and a run that
is still training, whose metrics.jsonl the tests extend while the page watches.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots for the README, taken by the tests at a laptop's size.
# Where the screenshots go: `make screenshots` sets docs/studio (the README shows them); other runs keep the
# committed ones as they are and write theirs to a temporary folder.
SHOTS = Path(os.environ.get("TUNESMITH_SCREENSHOTS") or Path(tempfile.gettempdir()) / "tunesmith-studio-shots")
VIEWPORT = {"width": 1200, "height": 800}
KEY = "sk-studio-test"

# The scripted models' greedy replies, one token a piece (tests/fixtures/scripted_model.py).
TUNED = ("Tunesmith", " ships", " your", " model", " to", " Ollama.")
BASE = ("I", " am", " a", " small", " language", " model.")
TOOL_CALL = ('<tool_call>\n{"name": ', '"get_weather", ', '"arguments": ', '{"city": "Paris"}', "}\n</tool_call>")
SYSTEM = "You answer questions about tunesmith."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    """Headless chromium (the system's) for the session."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make browser` installs Debian's chromium for the studio tests")
        pytest.skip("chromium is not installed: run `make browser` (Debian's chromium) for the studio tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser):
    """`open_page(url, key=None)`: a fresh tab at a laptop's size (with the API key in its sessionStorage when
    given); the test fails on any uncaught script error."""
    contexts, errors = [], []

    def open_(url: str, key: str | None = None, color_scheme: str = "light"):
        context = browser.new_context(viewport=VIEWPORT, color_scheme=color_scheme)
        if key:
            context.add_init_script(f"sessionStorage.setItem('tunesmith.apiKey', {json.dumps(key)})")
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.set_default_timeout(20_000)
        page.goto(url)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"script errors in the page: {errors}"


def screenshot(page, name: str) -> None:
    """Save the page as <name>.png in SHOTS."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)  # let the last redraw land
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def assert_every_control_is_labelled(page) -> None:
    """Every visible input, select and textarea has a label a screen reader announces."""
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((el) => el.offsetParent !== null)
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map((el) => el.outerHTML)"""
    )
    assert unlabelled == []


def metrics_rows(steps: range, *, start_loss: float = 3.0) -> list[dict]:
    """metrics.jsonl rows as the trainer writes them: a training row per step, an evaluation every 10 steps."""
    rows = []
    for step in steps:
        rows.append({"step": step, "loss": round(start_loss * 0.97**step, 4), "lr": 2e-4, "grad_norm": 1.0})
        if step % 10 == 0:
            rows.append({"step": step, "eval_loss": round(start_loss * 0.98**step + 0.1, 4)})
    return rows


def append_metrics(run: Path, rows: list[dict]) -> None:
    with (run / "metrics.jsonl").open("a", encoding="utf-8") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)


def _status(run: Path, status: str, **extra) -> None:
    now = int(time.time())
    record = {"status": status, "pid": os.getpid(), "host": socket.gethostname(), "started_at": now - 60}
    (run / "status.json").write_text(json.dumps({**record, "updated_at": now, "error": None, **extra}), "utf-8")


@pytest.fixture(scope="session")
def runs_folder(scripted_model, tmp_path_factory) -> Path:
    """runs/ with `demo` (done: data and train reports, package/ and base-package/ of scripted models) and `live`
    (training, recorded as this test process, 12 of 40 steps logged)."""
    from tunesmith.packager.package import PackageSpec, build_package

    runs = tmp_path_factory.mktemp("studio") / "runs"
    demo = runs / "demo"
    (demo / "data").mkdir(parents=True)
    parameters = {"num_ctx": 512, "temperature": 0.0}
    for name, out, reply in (("demo", "package", TUNED), ("demo-base", "base-package", BASE)):
        build_package(
            PackageSpec(
                base=scripted_model("qwen2", reply),
                out=demo / out,
                name=name,
                quants=("Q8_0",),
                system=SYSTEM,
                parameters=parameters,
            )
        )
    append_metrics(demo, [{"step": 0, "eval_loss": 3.2}, *metrics_rows(range(1, 31))])
    report = {
        "kind": "chat",
        "rows_in": 60,
        "dropped": {"duplicate": 3, "empty answer": 1},
        "rows_out": {"train": 51, "val": 5},
        "tokens": {"train": 4012, "val": 377},
        "length_tokens": {
            "train": {"min": 21, "p5": 30, "p50": 71, "p95": 120, "max": 151},
            "val": {"min": 40, "p5": 40, "p50": 70, "p95": 88, "max": 88},
        },
        "warnings": ["only 51 training conversations; a few hundred or more give a dependable fine-tune"],
        "plan": {"warnings": []},
    }
    (demo / "data" / "data_report.json").write_text(json.dumps(report), "utf-8")
    train_report = {"name": "demo", "steps": 30, "fit": "learning", "fit_reason": "the eval loss fell", "seconds": 95.2}
    (demo / "train_report.json").write_text(json.dumps(train_report), "utf-8")
    _status(demo, "done", max_steps=30)

    live = runs / "live"
    live.mkdir()
    append_metrics(live, [{"step": 0, "eval_loss": 3.2}, *metrics_rows(range(1, 13))])
    _status(live, "training", max_steps=40)
    return runs


@pytest.fixture(scope="session")
def tool_package(scripted_package) -> Path:
    """A package whose greedy reply is one Qwen2.5-style call of get_weather."""
    return scripted_package("qwen2", TOOL_CALL)


@pytest.fixture(scope="session")
def served(runs_folder, tool_package, tmp_path_factory) -> Iterator[str]:
    """`tunesmith serve --runs RUNS --model TOOL_PACKAGE` with an API key, in its own process; its base URL."""
    port = free_port()
    log = (tmp_path_factory.mktemp("serve-log") / "serve.log").open("w+")
    env = {**os.environ, "TUNESMITH_API_KEYS": KEY}
    # The console script pip installed beside this Python: the command a user runs.
    tunesmith = str(Path(sys.executable).with_name("tunesmith"))
    command = [tunesmith, "serve", "--runs", str(runs_folder), "--model", str(tool_package)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--threads", "1", "--log-level", "warning"], stdout=log, stderr=log, env=env
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.seek(0)
            raise RuntimeError(f"tunesmith serve did not start:\n{log.read()[-4000:]}")
        time.sleep(0.2)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def api(served) -> httpx.Client:
    """The served API with the key, for what the tests compare the page against."""
    with httpx.Client(base_url=served, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
        yield client
