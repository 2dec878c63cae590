"""The data report: rows in, dropped by reason, tokens per split, length percentiles, and size warnings.

It is written as data/data_report.json and printed as a table (rich), so the user sees what `prepare` did. Besides
fixed floors (~10 MiB of text for continued pre-training, ~100 chats), the warnings weigh the data against what
`train:` asks of it (the plan): how many rows one pass holds, and how many times max_steps or epochs read them.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from tunesmith.config import Train

__all__ = ["MAX_PASSES", "MIN_PRETRAIN_BYTES", "build_report", "chat_counts", "plan_training", "report_table"]

MIN_PRETRAIN_BYTES = 10 * 1024 * 1024
MAX_PASSES = 10  # past this many passes over its data a LoRA mostly memorises it
_MIN_CHATS = 100


def _percentiles(lengths: list[int]) -> dict[str, int]:
    if not lengths:
        return {}
    ordered = sorted(lengths)

    def at(q: float) -> int:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"min": ordered[0], "p5": at(0.05), "p50": at(0.5), "p95": at(0.95), "max": ordered[-1]}


def chat_counts(records: list[Any], count_tokens: Any) -> dict[str, Any]:
    """Tool use and reasoning in the chats: rows with tools, rows that call them, calls per calling row, the tools
    called, and rows with thinking and its tokens (`count_tokens(text)`)."""
    calls = [sum(len(m.get("tool_calls", ())) for m in r.messages) for r in records if r.kind == "chat"]
    thinking = [
        m["reasoning_content"] for r in records if r.kind == "chat" for m in r.messages if m.get("reasoning_content")
    ]
    called = sorted(
        {
            c["function"]["name"]
            for r in records
            if r.kind == "chat"
            for m in r.messages
            for c in m.get("tool_calls", ())
        }
    )
    calling = [n for n in calls if n]
    return {
        "rows_with_tools": sum(1 for r in records if r.kind == "chat" and r.tools),
        "tool_calling_rows": len(calling),
        "tool_calls": sum(calling),
        "calls_per_calling_row": {"mean": round(sum(calling) / len(calling), 2), "max": max(calling)}
        if calling
        else {},
        "tools_called": called,
        "reasoning_rows": sum(
            1 for r in records if r.kind == "chat" and any(m.get("reasoning_content") for m in r.messages)
        ),
        "thinking_tokens": sum(count_tokens(text) for text in thinking),
    }


def build_report(
    *,
    sources: list[dict[str, Any]],
    rows_in: int,
    dropped: Counter[str],
    kind: str,
    train_lengths: list[int],
    val_lengths: list[int],
    text_bytes: int,
    train: Train,
    config_hash: str,
    chats: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the report and its warnings from the counts `prepare` gathered and the `train:` settings."""
    warnings = []
    if kind == "text" and text_bytes < MIN_PRETRAIN_BYTES:
        warnings.append(
            f"only {text_bytes / 2**20:.2f} MiB of text for continued pre-training; under ~10 MiB the "
            "model mostly memorises it rather than learning its style or facts"
        )
    if kind == "chat" and len(train_lengths) < _MIN_CHATS:
        warnings.append(
            f"only {len(train_lengths)} training conversations; a few hundred or more give a dependable fine-tune"
        )
    if not val_lengths:
        warnings.append("no validation split: evaluation, early stopping and the fit verdict are off")
    max_seq_len = train.max_seq_len or 0
    over = sum(1 for n in train_lengths + val_lengths if n > max_seq_len)
    if over:
        warnings.append(f"{over} example(s) are longer than max_seq_len ({max_seq_len}) and will be truncated")
    report = {
        "config_hash": config_hash,
        "kind": kind,
        "sources": sources,
        "rows_in": rows_in,
        "dropped": dict(sorted(dropped.items())),
        "rows_out": {"train": len(train_lengths), "val": len(val_lengths)},
        "tokens": {"train": sum(train_lengths), "val": sum(val_lengths)},
        "length_tokens": {"train": _percentiles(train_lengths), "val": _percentiles(val_lengths)},
        "text_bytes": text_bytes,
        **({"chats": chats} if chats else {}),
        "warnings": warnings,
        "plan": {
            "examples": len(train_lengths),
            "tokens": sum(min(n, max_seq_len) for n in train_lengths),
            "max_seq_len": max_seq_len,
            "warnings": [],
        },
    }
    return plan_training(report, train)


def plan_training(report: dict[str, Any], train: Train) -> dict[str, Any]:
    """A copy of `report` with its plan and plan warnings worked out for `train` (prepared data can be reused
    under other `train:` settings, which its hash does not cover)."""
    plan = report["plan"]
    examples, max_seq_len = plan["examples"], plan["max_seq_len"]
    # Packing fills rows of max_seq_len tokens; first-fit-decreasing comes close to this bound.
    rows = max(1, math.ceil(plan["tokens"] / max_seq_len)) if train.packing and examples else examples
    per_step = train.batch_size * train.grad_accum
    passes = train.max_steps * per_step / max(rows, 1) if train.max_steps else train.epochs
    what = f"{rows} rows packed from {examples} examples" if train.packing else f"{examples} rows"
    warnings = []
    if rows < per_step:
        warnings.append(
            f"{what} is fewer than one batch ({per_step} = batch_size x grad_accum): every step "
            "repeats them; lower batch_size or grad_accum, or add data"
        )
    if passes > MAX_PASSES:
        asked = (
            f"max_steps={train.max_steps} x {per_step} rows per step" if train.max_steps else f"epochs={train.epochs:g}"
        )
        warnings.append(
            f"{asked} reads the training data ({what}) {passes:.0f} times over; past ~{MAX_PASSES} "
            "passes the model memorises it rather than learning from it: lower "
            f"{'max_steps' if train.max_steps else 'epochs'} or add data"
        )
    elif train.max_steps and passes < 1:
        warnings.append(
            f"max_steps={train.max_steps} x {per_step} rows per step reads only "
            f"{train.max_steps * per_step} of the training data's {what} ({passes:.0%}); raise "
            "max_steps, or leave it unset to train for `epochs`"
        )
    kept = [w for w in report["warnings"] if w not in plan["warnings"]]
    new_plan = {
        **plan,
        "rows_per_epoch": rows,
        "rows_per_step": per_step,
        "passes": round(passes, 2),
        "warnings": warnings,
    }
    return {**report, "plan": new_plan, "warnings": kept + warnings}


def report_table(report: dict[str, Any]) -> Any:
    """A rich Table of the report, for the console."""
    from rich.table import Table

    table = Table(title="data report", show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("value", justify="right")
    for source in report["sources"]:
        how = "detected" if source["detected"] else "configured"
        table.add_row(f"source {source['path']}", f"{source['format']} ({how}), {source['rows']} rows")
        for name, count in sorted(source.get("converted", {}).items()):
            table.add_row(f"  converted from {name}", str(count))
    table.add_row("rows in", str(report["rows_in"]))
    for reason, count in report["dropped"].items():
        table.add_row(f"dropped: {reason}", str(count))
    for split in ("train", "val"):
        lengths = report["length_tokens"][split]
        spread = " / ".join(f"{lengths[k]}" for k in ("p5", "p50", "p95", "max")) if lengths else "-"
        table.add_row(f"{split}: rows, tokens", f"{report['rows_out'][split]}, {report['tokens'][split]}")
        table.add_row(f"{split}: length p5/p50/p95/max", spread)
    chats = report.get("chats", {})
    if chats.get("rows_with_tools"):
        table.add_row(
            "chats with tools, calling, calls",
            f"{chats['rows_with_tools']}, {chats['tool_calling_rows']}, {chats['tool_calls']}",
        )
        table.add_row("tools called", ", ".join(chats["tools_called"]) or "-")
    if chats.get("reasoning_rows"):
        table.add_row("chats with thinking, its tokens", f"{chats['reasoning_rows']}, {chats['thinking_tokens']}")
    plan = report["plan"]
    table.add_row(
        "training: rows per pass, per step, passes",
        f"{plan['rows_per_epoch']}, {plan['rows_per_step']}, {plan['passes']:g}",
    )
    return table
