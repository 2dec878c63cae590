"""The data report: rows in, dropped by reason, tokens per split, length percentiles, and size warnings.

It is written as data/data_report.json and printed as a table (rich), so the user sees what `prepare` did.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["MIN_PRETRAIN_BYTES", "build_report", "report_table"]

MIN_PRETRAIN_BYTES = 10 * 1024 * 1024
_MIN_CHATS = 100


def _percentiles(lengths: list[int]) -> dict[str, int]:
    if not lengths:
        return {}
    ordered = sorted(lengths)

    def at(q: float) -> int:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"min": ordered[0], "p5": at(0.05), "p50": at(0.5), "p95": at(0.95), "max": ordered[-1]}


def build_report(*, sources: list[dict[str, Any]], rows_in: int, dropped: Counter[str], kind: str,
                 train_lengths: list[int], val_lengths: list[int], text_bytes: int, max_seq_len: int,
                 effective_batch: int, config_hash: str) -> dict[str, Any]:
    """Assemble the report and its warnings from the counts `prepare` gathered."""
    warnings = []
    if kind == "text" and text_bytes < MIN_PRETRAIN_BYTES:
        warnings.append(f"only {text_bytes / 2**20:.2f} MiB of text for continued pre-training; under ~10 MiB the "
                        "model mostly memorises it rather than learning its style or facts")
    if kind == "chat" and len(train_lengths) < _MIN_CHATS:
        warnings.append(f"only {len(train_lengths)} training conversations; a few hundred or more give a "
                        "dependable fine-tune")
    if len(train_lengths) < effective_batch:
        warnings.append(f"{len(train_lengths)} training examples is fewer than one batch "
                        f"({effective_batch} = batch_size x grad_accum)")
    if not val_lengths:
        warnings.append("no validation split: evaluation, early stopping and the fit verdict are off")
    over = sum(1 for n in train_lengths + val_lengths if n > max_seq_len)
    if over:
        warnings.append(f"{over} example(s) are longer than max_seq_len ({max_seq_len}) and will be truncated")
    return {
        "config_hash": config_hash,
        "kind": kind,
        "sources": sources,
        "rows_in": rows_in,
        "dropped": dict(sorted(dropped.items())),
        "rows_out": {"train": len(train_lengths), "val": len(val_lengths)},
        "tokens": {"train": sum(train_lengths), "val": sum(val_lengths)},
        "length_tokens": {"train": _percentiles(train_lengths), "val": _percentiles(val_lengths)},
        "text_bytes": text_bytes,
        "warnings": warnings,
    }


def report_table(report: dict[str, Any]) -> Any:
    """A rich Table of the report, for the console."""
    from rich.table import Table

    table = Table(title="data report", show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("value", justify="right")
    for source in report["sources"]:
        how = "detected" if source["detected"] else "configured"
        table.add_row(f"source {source['path']}", f"{source['format']} ({how}), {source['rows']} rows")
    table.add_row("rows in", str(report["rows_in"]))
    for reason, count in report["dropped"].items():
        table.add_row(f"dropped: {reason}", str(count))
    for split in ("train", "val"):
        lengths = report["length_tokens"][split]
        spread = " / ".join(f"{lengths[k]}" for k in ("p5", "p50", "p95", "max")) if lengths else "-"
        table.add_row(f"{split}: rows, tokens", f"{report['rows_out'][split]}, {report['tokens'][split]}")
        table.add_row(f"{split}: length p5/p50/p95/max", spread)
    return table
