"""How the demo shows what the fine-tune changed: the answers of both models side by side, and one line with how many
of the data set's questions each answers like the data. Pure formatting, so tests read exactly what users see."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from tunesmith.demo_compare import SPLITS, Comparison, Measure

__all__ = ["match_summary", "side_by_side"]


def side_by_side(comparisons: Sequence[Comparison], base: str, tuned: str) -> Table:
    """One row per question: the question (with why it was chosen and the data's answer), then each model's answer."""
    table = Table(title="the same questions, asked at temperature 0", show_lines=True, expand=True)
    # Long paths and commands wrap rather than end in an ellipsis: the answers are the point of the table.
    table.add_column("question", ratio=2, overflow="fold")
    table.add_column(f"before: {base}", ratio=3, overflow="fold")
    table.add_column(f"after: {tuned}", ratio=3, overflow="fold")
    for item in comparisons:
        question = f"[bold]{escape(item.question)}[/bold]\n[dim]({escape(item.label)})[/dim]"
        if item.reference is not None:
            question += f"\n[dim]data: {escape(item.reference)}[/dim]"
        table.add_row(
            question, escape(item.base) or "[dim](no answer)[/dim]", escape(item.tuned) or "[dim](no answer)[/dim]"
        )
    return table


def match_summary(measure: Measure) -> str:
    """`answers like the data (ROUGE-L ≥ 0.6 ...): training questions 0/51 before tuning → 49/51 after, validation
    questions 0/9 → 0/9`."""
    parts = []
    for number, count in enumerate(measure.counts):
        if number == 0:
            parts.append(
                f"{SPLITS[count.split]} questions {count.base}/{count.total} before tuning → "
                f"{count.tuned}/{count.total} after"
            )
        else:
            parts.append(f"{SPLITS[count.split]} questions {count.base}/{count.total} → {count.tuned}/{count.total}")
    return f"answers like the data (ROUGE-L ≥ {measure.threshold:g} against the data's answer): " + ", ".join(parts)
