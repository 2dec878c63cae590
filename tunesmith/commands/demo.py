"""`tunesmith demo`: the main job on the embedded default, with no GPU, no Ollama and no network."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/demo"), show_default=True,
              help="Run folder for every artifact of the demo.")
@click.option("--max-steps", type=click.IntRange(min=1), default=40, show_default=True,
              help="Training steps (about two seconds each on two CPU cores).")
@click.option("--question", default=None, help="What to ask the fine-tuned model at the end.")
def demo(out: Path, max_steps: int, question: str | None) -> None:
    """Fine-tune, package, serve and ask, end to end on the embedded SmolLM2-135M-Instruct.

    \b
    1. prepare + train: a LoRA adapter on a small FAQ about tunesmith (shipped with it), on the CPU;
    2. package: merged → GGUF → Q4_K_M, Modelfile, quality report, model card;
    3. serve: the package through the embedded llama.cpp backend on a loopback port;
    4. ask: one question through the official `openai` client, and print the answer.
    Needs no GPU, no Ollama and no network. Re-running reuses every step whose inputs did not change.
    """
    from tunesmith.commands.run import print_run_summary
    from tunesmith.console import quiet_libraries

    quiet_libraries()  # before the training libraries are imported: some speak at import time
    from tunesmith.console import err, out as console, progress
    from tunesmith.demo import DEMO_QUESTION, ask, demo_config, serve_in_background
    from tunesmith.packager.embedded import embedded_base_dir
    from tunesmith.pipeline import run_pipeline
    from tunesmith.trainer.live import RichTrainDisplay

    reporter = progress()
    config = demo_config(embedded_base_dir(progress=reporter), out, max_steps=max_steps)
    outcome = run_pipeline(config, progress=reporter, display=RichTrainDisplay(err))
    print_run_summary(outcome, config)

    question = question or DEMO_QUESTION
    with reporter.task("Serving the package and asking it a question through the openai client"):
        with serve_in_background(outcome.package.path) as base_url:
            model, answer = ask(base_url, question)
    console.print(f"\n[bold]Q:[/bold] {question}\n[bold]A ({model}):[/bold] {answer.strip()}\n")
    console.print(f"[bold green]demo done.[/bold green] Everything is under {outcome.run_dir}; try "
                  f"`tunesmith serve --model {outcome.package.path}`.")

