"""The fit verdict: under-fit, over-fit or good fit, with its reason, read from the train and eval loss curves.

Over-fit: eval loss rose clearly above its best while train loss kept falling. Under-fit: eval loss was still
falling clearly at the end, or train loss barely moved. Good fit: eval loss flattened near its best.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Verdict", "fit_verdict"]

RISE = 0.05  # eval loss this far above its best counts as over-fitting
STILL_FALLING = 0.02  # eval loss falling this much over the last interval counts as unfinished
BARELY_MOVED = 0.05  # train loss improving less than this from start to end counts as not learning


@dataclass(frozen=True)
class Verdict:
    fit: str  # "under-fit", "over-fit", "good fit" or "unknown"
    reason: str


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def fit_verdict(metrics: list[dict[str, Any]], *, keep: str = "best") -> Verdict:
    """Judge the run from the rows of metrics.jsonl; `keep` (train.keep) says which adapter the run leaves."""
    train = [(row["step"], row["loss"]) for row in metrics if row.get("loss") is not None]
    # The evaluation before training (step 0) has no checkpoint to keep; the verdict weighs the trained ones.
    evals = [
        (row["step"], row["eval_loss"])
        for row in metrics
        if row.get("eval_loss") is not None and row.get("step", 0) > 0
    ]
    if len(evals) < 2:
        return Verdict(
            "unknown",
            "fewer than two evaluations; set a validation split and train past two "
            "eval_steps intervals to judge the fit",
        )
    best_step, best = min(evals, key=lambda item: item[1])
    last_step, last = evals[-1]
    first = evals[0][1]
    window = max(1, len(train) // 10)
    train_start = _mean([loss for _, loss in train[:window]]) if train else None
    train_end = _mean([loss for _, loss in train[-window:]]) if train else None
    if last > best * (1 + RISE) and best_step < last_step:
        rise = (last / best - 1) * 100
        trend = ""
        if train_end is not None:
            at_best = [loss for step, loss in train if step <= best_step][-window:]
            if at_best and train_end < _mean(at_best):
                trend = " while train loss kept falling"
        kept = (
            f"the best adapter (step {best_step}) is kept"
            if keep == "best"
            else f"the last adapter (step {last_step}) is kept, as train.keep = last asks"
        )
        return Verdict(
            "over-fit",
            f"eval loss rose {rise:.0f}% from its best {best:.3f} at step {best_step} to "
            f"{last:.3f} at step {last_step}{trend}; {kept}",
        )
    previous = evals[-2][1]
    if previous > 0 and (previous - last) / previous > STILL_FALLING:
        drop = (previous - last) / previous * 100
        return Verdict(
            "under-fit",
            f"eval loss was still falling at the end ({drop:.1f}% over the last interval, "
            f"{previous:.3f} → {last:.3f}); train longer or raise the learning rate",
        )
    if (
        train_start is not None
        and train_end is not None
        and train_start > 0
        and (train_start - train_end) / train_start < BARELY_MOVED
    ):
        return Verdict(
            "under-fit",
            f"train loss barely moved ({train_start:.3f} → {train_end:.3f}); raise the "
            "learning rate, the LoRA rank or the number of steps",
        )
    return Verdict(
        "good fit",
        f"eval loss fell from {first:.3f} and flattened near its best {best:.3f} "
        f"(step {best_step}) without rising more than {RISE:.0%}",
    )
