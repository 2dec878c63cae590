"""What the demo shows of the fine-tune: the questions it picks, the match rate it counts, and how both are printed."""

from __future__ import annotations

import json

from rich.console import Console

from tunesmith.demo_compare import (
    Comparison,
    DataQuestion,
    MatchCount,
    Measure,
    cached,
    compare_answers,
    comparison_record,
    demo_questions,
    earlier_answers,
    measure_matches,
    package_identity,
    read_data_questions,
)
from tunesmith.demo_report import match_summary, side_by_side

DATA = [
    DataQuestion("train", "How do I package?", "Run `tunesmith package --base BASE`."),
    DataQuestion("train", "What is GGUF?", "The file format of llama.cpp."),
    DataQuestion("train", "What is LoRA?", "Small low-rank matrices beside frozen weights."),
    DataQuestion("val", "How do I start training?", "Run `tunesmith train CONFIG`."),
    DataQuestion("val", "Which command builds a GGUF?", "`tunesmith package` does."),
]


def _chat(*turns: tuple[str, str]) -> str:
    return json.dumps({"messages": [{"role": role, "content": content} for role, content in turns]})


def test_the_data_questions_are_the_single_turn_chats_of_both_splits(tmp_path):
    (tmp_path / "train.jsonl").write_text(
        "\n".join(
            [
                _chat(("system", "Be brief."), ("user", "Q1"), ("assistant", "A1")),
                _chat(("user", "Q2"), ("assistant", "A2"), ("user", "Q3"), ("assistant", "A3")),  # two turns: left out
            ]
        )
        + "\n"
    )
    (tmp_path / "val.jsonl").write_text(_chat(("user", "Q4"), ("assistant", "A4")) + "\n")
    assert read_data_questions(tmp_path) == [DataQuestion("train", "Q1", "A1"), DataQuestion("val", "Q4", "A4")]


def test_the_demo_asks_its_question_one_held_back_and_one_off_topic():
    assert demo_questions(DATA, "How do I package?", "What is the capital of France?") == [
        ("from the training data", "How do I package?", "Run `tunesmith package --base BASE`."),
        ("held back in validation", "How do I start training?", "Run `tunesmith train CONFIG`."),
        ("off-topic", "What is the capital of France?", None),
    ]


def test_a_question_of_ones_own_is_labelled_so_and_one_from_the_data_keeps_its_answer():
    own = demo_questions(DATA, "Why is the sky blue?", "What is the capital of France?")
    assert own[0] == ("your question", "Why is the sky blue?", None)
    held_back = demo_questions(DATA, "How do I start training?", "Paris?")
    assert held_back[:2] == [
        ("held back in validation", "How do I start training?", "Run `tunesmith train CONFIG`."),
        ("held back in validation", "Which command builds a GGUF?", "`tunesmith package` does."),
    ]


def _ask(model: str, question: str) -> str:
    """A base that knows nothing and a tuned model that learnt the training answers, and one answer held back."""
    item = next(item for item in DATA if item.question == question)
    if model == "tuned" and (item.split == "train" or question == "How do I start training?"):
        return item.reference
    return "I am not sure what you mean."


def test_the_match_rate_counts_answers_like_the_data_per_split_for_both_models():
    measure = measure_matches(DATA, _ask, "base", "tuned", threshold=0.6)
    assert measure.counts == [MatchCount("train", 3, 0, 3), MatchCount("val", 2, 0, 1)]
    first = measure.scores[0]
    assert first["question"] == "How do I package?" and first["tuned_rouge_l"] == 1.0
    assert first["base_rouge_l"] == 0.0 and first["base"] == "I am not sure what you mean."


def test_one_model_answers_everything_before_the_other_is_asked():
    asked = []
    compare_answers([("a", "Q1", None), ("b", "Q2", None)], lambda model, q: asked.append(model) or "", "base", "tuned")
    measure_matches(DATA, lambda model, q: asked.append(model) or "", "base", "tuned")
    assert asked == ["base"] * 2 + ["tuned"] * 2 + ["base"] * len(DATA) + ["tuned"] * len(DATA)


def test_a_question_asked_again_is_answered_from_memory():
    asked = []
    ask = cached(lambda model, question: asked.append((model, question)) or f"{model}: {question}")
    comparisons = compare_answers(
        [("from the training data", "What is GGUF?", "The file format of llama.cpp.")], ask, "base", "tuned"
    )
    measure_matches(DATA, ask, "base", "tuned")
    assert comparisons == [
        Comparison(
            "from the training data",
            "What is GGUF?",
            "The file format of llama.cpp.",
            "base: What is GGUF?",
            "tuned: What is GGUF?",
        )
    ]
    assert len(asked) == 2 * len(DATA)


def test_a_rerun_reuses_the_answers_of_the_same_packages_asked_the_same_way_only(tmp_path):
    packages = {}
    for side in ("base", "tuned"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "Modelfile").write_text(f"FROM ./{side}.gguf\n")
        packages[side] = package_identity(tmp_path / side)
    comparisons = compare_answers(
        [("off-topic", "Capital of France?", None)], lambda model, q: f"{model} says", "base", "tuned"
    )
    measure = measure_matches(DATA[:1], lambda model, q: f"{model} knows", "base", "tuned")
    path = tmp_path / "comparison.json"
    path.write_text(
        json.dumps(
            comparison_record(comparisons, measure, base="base", tuned="tuned", packages=packages, max_tokens=64)
        )
    )

    known = earlier_answers(path, base="base", tuned="tuned", packages=packages, max_tokens=64)
    assert known == {
        ("base", "Capital of France?"): "base says",
        ("tuned", "Capital of France?"): "tuned says",
        ("base", "How do I package?"): "base knows",
        ("tuned", "How do I package?"): "tuned knows",
    }
    assert earlier_answers(path, base="base", tuned="tuned", packages=packages, max_tokens=32) == {}
    (tmp_path / "tuned" / "Modelfile").write_text("FROM ./tuned.gguf\nPARAMETER temperature 0.7\n")
    changed = {**packages, "tuned": package_identity(tmp_path / "tuned")}
    assert changed != packages
    assert earlier_answers(path, base="base", tuned="tuned", packages=changed, max_tokens=64) == {}
    path.write_text("{not json")
    assert earlier_answers(path, base="base", tuned="tuned", packages=packages, max_tokens=64) == {}


def test_the_summary_line_says_the_measure_its_threshold_and_both_counts():
    measure = Measure(0.6, [MatchCount("train", 51, 0, 48), MatchCount("val", 9, 0, 2)], [])
    assert match_summary(measure) == (
        "answers like the data (ROUGE-L ≥ 0.6 against the data's answer): training questions 0/51 before tuning → "
        "48/51 after, validation questions 0/9 → 2/9"
    )


def test_the_table_shows_each_question_with_the_data_answer_beside_both_models_answers():
    console = Console(width=160, record=True, color_system=None)
    console.print(
        side_by_side(
            [
                Comparison(
                    "from the training data",
                    "How do I package?",
                    "Run `tunesmith package`.",
                    "Use pip [x].",
                    "Run `tunesmith package`.",
                ),
                Comparison("off-topic", "Capital of France?", None, "Paris.", ""),
            ],
            "SmolLM2-135M-Instruct",
            "smollm2-demo",
        )
    )
    text = console.export_text()
    header = next(line for line in text.splitlines() if "before:" in line)
    assert (
        header.index("question") < header.index("before: SmolLM2-135M-Instruct") < header.index("after: smollm2-demo")
    )
    for words in (
        "(from the training data)",
        "How do I package?",
        "data: Run `tunesmith package`.",
        "Use pip [x].",
        "(off-topic)",
        "Paris.",
        "(no answer)",
    ):
        assert words in text
    row = next(line for line in text.splitlines() if "Use pip [x]." in line)
    assert row.index("How do I package?") < row.index("Use pip [x].") < row.index("Run `tunesmith package`.")
