"""`tunesmith demo`: the main job on the embedded default, with no GPU, no Ollama and no network."""

from __future__ import annotations

from pathlib import Path

import click

from tunesmith.commands.options import ollama_host_option


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/demo"),
    show_default=True,
    help="Run folder for every artifact of the demo.",
)
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    default=None,
    help="Training steps (56 by default, about 2.5 seconds each on two CPU cores).",
)
@click.option("--question", default=None, help="What to ask both models, instead of the demo's own question.")
@ollama_host_option("Ollama daemon to create the model in, when one answers there (default 127.0.0.1:11434).")
def demo(out: Path, max_steps: int | None, question: str | None, ollama_host: str | None) -> None:
    """Fine-tune, package, serve and compare, end to end on the embedded SmolLM2-135M-Instruct.

    \b
    1. prepare + train: a LoRA adapter on a small FAQ about tunesmith (shipped with it), on the CPU;
    2. package: merged → GGUF → Q8_0, Modelfile, quality report, model card; the base model is packaged alone the
       same way, for comparison;
    3. serve: both packages through the embedded llama.cpp backend on a loopback port;
    4. compare: the same questions to both through the official `openai` client at temperature 0, side by side (one
       from the training data, one held back, one off-topic), and how many of the data set's questions each
       answers like the data (ROUGE-L against the data's answer);
    5. Ollama: when a daemon answers at OLLAMA_HOST, the model is created there, ready for `ollama run`.
    Needs no GPU, no Ollama and no network. Re-running reuses every step whose inputs did not change.
    """
    from tunesmith.commands.run import print_run_summary
    from tunesmith.console import quiet_libraries

    quiet_libraries()  # before the training libraries are imported: some speak at import time
    from tunesmith.console import err, progress
    from tunesmith.console import out as console
    from tunesmith.demo import DEMO_QUESTION, base_package, demo_config
    from tunesmith.demo_report import match_summary, side_by_side
    from tunesmith.embedded_base import embedded_base_dir
    from tunesmith.pipeline import run_pipeline
    from tunesmith.trainer.live import RichTrainDisplay

    reporter = progress()
    base = embedded_base_dir(progress=reporter)
    config = demo_config(base, out, max_steps=max_steps)
    outcome = run_pipeline(config, progress=reporter, display=RichTrainDisplay(err))
    print_run_summary(outcome, config)

    reporter.note("[bold]the base model alone, packaged the same way, to compare with[/bold]")
    base_dir = base_package(base, outcome.run_dir, progress=reporter)
    comparisons, measure = _compare(
        base_dir, outcome.package.path, outcome.run_dir, question or DEMO_QUESTION, reporter
    )

    console.print()
    console.print(side_by_side(comparisons, base.name, outcome.package.name))
    console.print(f"[bold]{match_summary(measure)}[/bold] (every answer: {outcome.run_dir / 'comparison.json'})")
    _ollama_step(outcome.package.path, outcome.package.name, ollama_host, reporter)
    console.print(
        f"[bold green]demo done.[/bold green] Everything is under {outcome.run_dir}; try "
        f"`tunesmith serve --model {outcome.package.path}`."
    )


def _compare(base_dir: Path, tuned_dir: Path, run_dir: Path, question: str, reporter):
    """Serve both packages, put the same questions to both, measure over the data set; record it all in
    run_dir/comparison.json, whose answers a re-run with the same packages reuses."""
    import json

    from tunesmith.demo import ANSWER_TOKENS, OFF_TOPIC_QUESTION, asker, serve_in_background
    from tunesmith.demo_compare import (
        cached,
        compare_answers,
        comparison_record,
        demo_questions,
        earlier_answers,
        measure_matches,
        package_identity,
        read_data_questions,
    )
    from tunesmith.files import write_text_atomic
    from tunesmith.packager.package_folder import read_package_folder

    base_id, tuned_id = read_package_folder(base_dir).name, read_package_folder(tuned_dir).name
    data = read_data_questions(run_dir / "data")
    questions = demo_questions(data, question, OFF_TOPIC_QUESTION)
    packages = {"base": package_identity(base_dir), "tuned": package_identity(tuned_dir)}
    record_path = run_dir / "comparison.json"
    known = earlier_answers(record_path, base=base_id, tuned=tuned_id, packages=packages, max_tokens=ANSWER_TOKENS)
    if known:
        reporter.note(f"both packages are the ones {record_path} asked: reusing its answers")
    with serve_in_background([base_dir, tuned_dir]) as base_url:
        ask = cached(asker(base_url, max_tokens=ANSWER_TOKENS), known)
        with reporter.task("Asking both models the same questions through the openai client"):
            comparisons = compare_answers(questions, ask, base_id, tuned_id)
        measure = measure_matches(data, ask, base_id, tuned_id, progress=reporter)
    record = comparison_record(
        comparisons, measure, base=base_id, tuned=tuned_id, packages=packages, max_tokens=ANSWER_TOKENS
    )
    write_text_atomic(record_path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return comparisons, measure


def _ollama_step(package: Path, name: str, host: str | None, reporter) -> None:
    """Create the model in the Ollama daemon that answers at `host`, or say how to once one runs."""
    from tunesmith.console import out
    from tunesmith.errors import PublishError
    from tunesmith.ollama_local import create_in_ollama
    from tunesmith.publish import ollama_base_url

    by_hand = f"ollama create {name} -f {package / 'Modelfile'} && ollama run {name}"
    try:
        created = create_in_ollama(package, name, host=host, progress=reporter)
    except PublishError as error:
        out.print(f"[yellow]Ollama:[/yellow] {error} By hand: `{by_hand}`")
        return
    if created is None:
        out.print(f"Ollama: none answers at {ollama_base_url(host)}; once one runs, `{by_hand}`")
    else:
        out.print(f"[bold green]Ollama:[/bold green] created {name} in the Ollama at {created}: `ollama run {name}`")
