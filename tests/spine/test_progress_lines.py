"""`--progress-json`: every task and note as one JSON line a program can follow, beside the terminal's display."""

from __future__ import annotations

import io
import json

import pytest

from tests.fixtures.progress import RecordingProgress
from tunesmith.progress import JsonLinesProgress, TeeProgress


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_tasks_side_by_side_each_name_their_step_and_end_done_or_failed():
    stream = io.StringIO()
    progress = JsonLinesProgress(stream)
    with progress.task("uploading a", total=10) as a, progress.task("uploading b") as b:
        a(4)
        b(1)
        progress.note("[bold]step 2/2: package[/bold]")
        progress.note("a row [/i] is kept as written")  # not valid markup
    with pytest.raises(ValueError), progress.task("quantizing"):
        raise ValueError("disk full")
    assert lines(stream) == [
        {"step": 0, "name": "uploading a", "total": 10},
        {"step": 1, "name": "uploading b", "total": None},
        {"step": 0, "advance": 4},
        {"step": 1, "advance": 1},
        {"note": "step 2/2: package"},
        {"note": "a row [/i] is kept as written"},
        {"step": 1, "status": "done"},
        {"step": 0, "status": "done"},
        {"step": 2, "name": "quantizing", "total": None},
        {"step": 2, "status": "failed"},
    ]


def test_a_tee_reports_to_the_display_and_the_lines_alike():
    stream, display = io.StringIO(), RecordingProgress()
    progress = TeeProgress(display, JsonLinesProgress(stream))
    with progress.task("counting tokens", total=3) as advance:
        advance(2)
    progress.note("done")
    assert display.tasks == [{"description": "counting tokens", "total": 3, "done": 2}]
    assert display.notes == ["done"]
    assert lines(stream)[1] == {"step": 0, "advance": 2} and lines(stream)[-1] == {"note": "done"}
