"""What every bench writes with `--json PATH`: the machine, the versions it ran with, its own results, and the rows of
ratios against its anchor that bench/run_all.py gathers into one table.

A row says which side is better when it is higher or lower and, where the project has set one, the goal it is held to.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal


def machine() -> dict:
    """CPUs, memory, load average and Python of the machine running the bench."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory = next(
        (
            int(line.split()[1]) / 2**20
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0.0,
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


def versions(*names: str) -> dict[str, str | None]:
    """The installed version of each distribution, None for those not installed."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def ratio_row(
    bench: str,
    measure: str,
    unit: str,
    ours: float,
    anchor: float,
    anchor_name: str,
    better: Literal["higher", "lower"],
    goal: float | None = None,
) -> dict:
    """One row of ratio ours / anchor; `goal` is the least (better = higher) or most (lower) ratio that meets it."""
    value = ours / anchor if anchor else float("inf")
    met = None if goal is None else (value >= goal if better == "higher" else value <= goal)
    sign = "≥" if better == "higher" else "≤"
    return {
        "bench": bench,
        "measure": measure,
        "unit": unit,
        "ours": ours,
        "anchor": anchor,
        "anchor_name": anchor_name,
        "ratio": value,
        "better": better,
        "goal": None if goal is None else f"{sign} {goal:g}x",
        "met": met,
    }


def limit_row(
    bench: str,
    measure: str,
    unit: str,
    ours: float,
    most: float,
    anchor: float | None = None,
    anchor_name: str | None = None,
) -> dict:
    """One row held to an absolute limit (ours <= most), with the anchor's value beside it when there is one."""
    return {
        "bench": bench,
        "measure": measure,
        "unit": unit,
        "ours": ours,
        "anchor": anchor,
        "anchor_name": anchor_name,
        "ratio": ours / anchor if anchor else None,
        "better": "lower",
        "goal": f"≤ {most:g} {unit}",
        "met": ours <= most,
    }


def check_row(bench: str, measure: str, ok: bool, anchor_name: str) -> dict:
    """One row that either holds or does not (e.g. byte-identical output to the anchor's)."""
    return {
        "bench": bench,
        "measure": measure,
        "unit": "",
        "ours": "yes" if ok else "no",
        "anchor": None,
        "anchor_name": anchor_name,
        "ratio": None,
        "better": None,
        "goal": "yes",
        "met": ok,
    }


def write_json(
    path: Path, bench: str, settings: dict, results: object, rows: list[dict], packages: dict[str, str | None]
) -> None:
    """Write one bench's results, through a temporary name so a reader never sees half a file."""
    payload = {
        "bench": bench,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": packages,
        "settings": settings,
        "results": results,
        "rows": rows,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(payload, indent=2))
    partial.replace(path)
