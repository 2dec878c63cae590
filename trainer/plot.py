"""loss.png: train loss per step and eval loss per evaluation, drawn with matplotlib (no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.files import atomic_file

__all__ = ["plot_losses"]


def plot_losses(metrics: list[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Draw the curves of `metrics` (rows of metrics.jsonl) into a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    train = [(row["step"], row["loss"]) for row in metrics if "loss" in row]
    evals = [(row["step"], row["eval_loss"]) for row in metrics if "eval_loss" in row]
    figure = Figure(figsize=(7, 4), dpi=100)
    axes = figure.subplots()
    if train:
        axes.plot(*zip(*train), label="train loss", color="tab:blue", linewidth=1)
    if evals:
        axes.plot(*zip(*evals), label="eval loss", color="tab:orange", marker="o", linewidth=1.5)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(title or "training")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
