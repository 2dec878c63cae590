"""The fit verdict from loss curves: table of curve shapes and the verdict each must get."""

from __future__ import annotations

import pytest

from tunesmith.trainer.verdict import fit_verdict


def _curves(train: list[float], evals: dict[int, float]) -> list[dict]:
    rows = [{"step": i + 1, "loss": loss} for i, loss in enumerate(train)]
    rows += [{"step": step, "eval_loss": loss} for step, loss in evals.items()]
    return sorted(rows, key=lambda r: r["step"])


FALLING = [3.0 - 0.05 * i for i in range(40)]

CASES = [
    ("flattened", FALLING, {10: 2.5, 20: 2.2, 30: 2.15, 40: 2.14}, "good fit", "flattened near its best 2.140"),
    (
        "rising eval",
        FALLING,
        {10: 2.5, 20: 2.2, 30: 2.4, 40: 2.6},
        "over-fit",
        "rose 18% from its best 2.200 at step 20",
    ),
    ("still falling", FALLING, {10: 2.9, 20: 2.6, 30: 2.3, 40: 2.0}, "under-fit", "still falling"),
    ("flat train", [2.0] * 40, {10: 2.0, 20: 2.0, 30: 2.0, 40: 2.0}, "under-fit", "train loss barely moved"),
    ("small wobble", FALLING, {10: 2.5, 20: 2.2, 30: 2.21, 40: 2.25}, "good fit", "without rising more than 5%"),
    ("one eval", FALLING, {40: 2.0}, "unknown", "fewer than two evaluations"),
    ("no eval", FALLING, {}, "unknown", "fewer than two evaluations"),
    ("eval before training is not a checkpoint", FALLING, {0: 3.5, 40: 2.0}, "unknown", "fewer than two evaluations"),
    (
        "flattened after eval before training",
        FALLING,
        {0: 1.0, 10: 2.5, 20: 2.2, 30: 2.15, 40: 2.14},
        "good fit",
        "fell from 2.500",
    ),
]


@pytest.mark.parametrize("name, train, evals, fit, reason", CASES, ids=[c[0] for c in CASES])
def test_fit_verdict(name, train, evals, fit, reason):
    verdict = fit_verdict(_curves(train, evals))
    assert verdict.fit == fit
    assert reason in verdict.reason


def test_over_fit_reason_says_train_loss_kept_falling_only_when_it_did():
    rising = fit_verdict(_curves(FALLING, {10: 2.5, 20: 2.2, 30: 2.4, 40: 2.6}))
    assert "while train loss kept falling" in rising.reason
    flat_train = fit_verdict(_curves([2.0] * 40, {10: 2.5, 20: 2.2, 30: 2.4, 40: 2.6}))
    assert flat_train.fit == "over-fit" and "kept falling" not in flat_train.reason


def test_over_fit_reason_names_the_adapter_train_keep_leaves():
    curves = _curves(FALLING, {10: 2.5, 20: 2.2, 30: 2.4, 40: 2.6})
    assert fit_verdict(curves).reason.endswith("the best adapter (step 20) is kept")
    assert fit_verdict(curves, keep="last").reason.endswith(
        "the last adapter (step 40) is kept, as train.keep = last asks"
    )
