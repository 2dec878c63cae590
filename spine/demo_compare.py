"""What the demo's fine-tune changed: the same questions put to the base model and to the tuned package, and how many
of the data set's questions each answers like the data (ROUGE-L against the data's answer at or above a threshold).

The questions are asked through `ask(model, question)`, so this module needs no server: the demo passes one that goes
through the served endpoint, the tests a plain function.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunesmith.config import section_hash
from tunesmith.errors import DataError
from tunesmith.progress import SILENT, Progress
from tunesmith.similarity import rouge_l
from tunesmith.stamps import folder_identity
from tunesmith.user_files import read_text_file

__all__ = [
    "MATCH_THRESHOLD",
    "SPLITS",
    "Comparison",
    "DataQuestion",
    "MatchCount",
    "Measure",
    "cached",
    "compare_answers",
    "comparison_record",
    "demo_questions",
    "earlier_answers",
    "measure_matches",
    "package_identity",
    "read_data_questions",
]

# ROUGE-L F1 from which an answer counts as the data's answer in other words: the data's facts and commands in the
# data's order, with a few words changed, added or left out.
MATCH_THRESHOLD = 0.6
SPLITS = {"train": "training", "val": "validation"}
_LABELS = {"train": "from the training data", "val": "held back in validation"}

Ask = Callable[[str, str], str]


@dataclass(frozen=True)
class DataQuestion:
    """One question of the prepared data set, the split it is in (`train` or `val`) and the data's answer."""

    split: str
    question: str
    reference: str


@dataclass(frozen=True)
class Comparison:
    """One question put to both models: why it was chosen, the data's answer if it has one, and both answers."""

    label: str
    question: str
    reference: str | None
    base: str
    tuned: str


@dataclass(frozen=True)
class MatchCount:
    """How many questions of one split each model answers like the data."""

    split: str
    total: int
    base: int
    tuned: int


@dataclass(frozen=True)
class Measure:
    threshold: float
    counts: list[MatchCount]
    scores: list[dict]  # per question: split, question, reference, both answers and their ROUGE-L


def read_data_questions(data_dir: Path) -> list[DataQuestion]:
    """The single-turn questions of the prepared train.jsonl and val.jsonl, with the data's answers."""
    questions = []
    for split in SPLITS:
        path = data_dir / f"{split}.jsonl"
        hint = "Run `tunesmith demo` again: it prepares the data before training."
        lines = read_text_file(path, what="the prepared data", error=DataError, hint=hint).splitlines()
        for line in lines:
            turns = [message for message in json.loads(line).get("messages", []) if message["role"] != "system"]
            if len(turns) == 2 and [turn["role"] for turn in turns] == ["user", "assistant"]:
                questions.append(DataQuestion(split, turns[0]["content"], turns[1]["content"]))
    return questions


def demo_questions(data: Sequence[DataQuestion], first: str, off_topic: str) -> list[tuple[str, str, str | None]]:
    """(label, question, the data's answer or None): `first` (the default or the user's question), one question held
    back in validation, and one off-topic."""
    known = {item.question: item for item in data}
    chosen = known.get(first)
    picked = [(_LABELS[chosen.split] if chosen else "your question", first, chosen.reference if chosen else None)]
    held_back = next((item for item in data if item.split == "val" and item.question != first), None)
    if held_back is not None:
        picked.append((_LABELS["val"], held_back.question, held_back.reference))
    if off_topic != first:
        picked.append(("off-topic", off_topic, None))
    return picked


def cached(ask: Ask, known: dict[tuple[str, str], str] | None = None) -> Ask:
    """`ask`, answering a (model, question) asked before, or `known`, from memory: greedy answers do not change."""
    answers = dict(known or {})

    def ask_once(model: str, question: str) -> str:
        if (model, question) not in answers:
            answers[model, question] = ask(model, question)
        return answers[model, question]

    return ask_once


# Both functions ask one model everything before the other: the embedded backend runs each model on a thread of its
# own, and on two cores, switching models at every question made the demo's 120 answers take half as long again.


def compare_answers(
    questions: Sequence[tuple[str, str, str | None]], ask: Ask, base: str, tuned: str
) -> list[Comparison]:
    """Each question put to the `base` and the `tuned` model."""
    before = [ask(base, question) for _, question, _ in questions]
    after = [ask(tuned, question) for _, question, _ in questions]
    return [
        Comparison(label, question, reference, base_answer, tuned_answer)
        for (label, question, reference), base_answer, tuned_answer in zip(questions, before, after)
    ]


def measure_matches(
    data: Sequence[DataQuestion],
    ask: Ask,
    base: str,
    tuned: str,
    *,
    threshold: float = MATCH_THRESHOLD,
    progress: Progress = SILENT,
) -> Measure:
    """Ask both models every question of the data set; count per split the answers with ROUGE-L >= `threshold`."""
    scores: list[dict[str, Any]] = [
        {"split": item.split, "question": item.question, "reference": item.reference} for item in data
    ]
    with progress.task(f"Asking both models the {len(data)} questions of the data set", total=2 * len(data)) as step:
        for side, model in (("base", base), ("tuned", tuned)):
            for item, row in zip(data, scores):
                answer = ask(model, item.question)
                row[side] = answer
                row[f"{side}_rouge_l"] = round(rouge_l(item.reference, answer), 4)
                step(1)
    counts = []
    for split in SPLITS:
        rows = [row for row in scores if row["split"] == split]
        if rows:
            counts.append(
                MatchCount(
                    split,
                    len(rows),
                    sum(row["base_rouge_l"] >= threshold for row in rows),
                    sum(row["tuned_rouge_l"] >= threshold for row in rows),
                )
            )
    return Measure(threshold, counts, scores)


def package_identity(package_dir: Path) -> str:
    """What tells a package's answers apart: its files' names, sizes and mtimes (the GGUF and the Modelfile)."""
    return section_hash(folder_identity(package_dir))


def comparison_record(
    comparisons: Sequence[Comparison],
    measure: Measure,
    *,
    base: str,
    tuned: str,
    packages: dict[str, str],
    max_tokens: int,
) -> dict:
    """What comparison.json holds: the models and their packages' identities, how they were asked, the side-by-side
    answers and the measure."""
    return {
        "base": base,
        "tuned": tuned,
        "packages": packages,
        "temperature": 0.0,
        "max_tokens": max_tokens,
        "similarity": "ROUGE-L F1 over lower-cased words",
        "threshold": measure.threshold,
        "counts": [asdict(count) for count in measure.counts],
        "side_by_side": [asdict(item) for item in comparisons],
        "questions": measure.scores,
    }


def earlier_answers(
    path: Path, *, base: str, tuned: str, packages: dict[str, str], max_tokens: int
) -> dict[tuple[str, str], str]:
    """{(model, question): answer} from an earlier comparison.json that asked these very packages the same way, so
    a re-run of the demo asks only what it did not ask before; {} for any other (or no) file."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if (record["base"], record["tuned"], record["packages"], record["max_tokens"]) != (
            base,
            tuned,
            packages,
            max_tokens,
        ):
            return {}
        rows = [*record["side_by_side"], *record["questions"]]
        return {
            (model, row["question"]): row[side] for row in rows for side, model in (("base", base), ("tuned", tuned))
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}
