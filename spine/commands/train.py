"""`tunesmith train`: train a LoRA/QLoRA adapter on the prepared data, resuming from the run's checkpoints."""

from __future__ import annotations

import click

from tunesmith.commands.options import ProjectOptions, config_options

__all__ = ["train"]


@click.command()
@config_options(gpus=True)
@click.option("--restart", is_flag=True, help="Discard this run's checkpoints and train from the first step.")
def train(project: ProjectOptions, restart: bool) -> None:
    """Fine-tune the base model with LoRA (or QLoRA on CUDA) and write runs/<name>/adapter/.

    Prepares the data first when needed (see `tunesmith prepare`). Chats are formatted with the base model's own
    chat template and only the assistant's tokens are learned; raw text is learned whole. Evaluates every
    train.eval_steps, stops early when eval loss stops improving, keeps the best adapter, and writes
    metrics.jsonl, loss.png and train_report.json with a fit verdict. Re-running the same command continues from
    the last checkpoint of an interrupted run.

    \b
        tunesmith train --base embedded --data qa.csv --max-steps 60
        tunesmith train tunesmith.yaml --gpus 4        # data parallel on four GPUs
    """
    from tunesmith.console import err, out, progress, quiet_libraries

    # The config first: a typo is reported at once, not after the seconds transformers' trainer takes to import.
    loaded = project.load()
    quiet_libraries()  # before the training libraries are imported: some speak at import time
    from tunesmith.trainer import train_adapter
    from tunesmith.trainer.live import RichTrainDisplay
    from tunesmith.trainer.run_status import recording_status

    with recording_status(loaded, start="preparing", end="trained"):
        result = train_adapter(loaded, progress=progress(), display=RichTrainDisplay(err), restart=restart)
    report = result.report
    colour = {"good fit": "green", "over-fit": "yellow", "under-fit": "yellow"}.get(report["fit"], "white")
    out.print(f"[bold {colour}]{report['fit']}[/bold {colour}]: {report['fit_reason']}")
    best = (
        f", best eval loss {report['best_eval_loss']:.4f} at step {report['best_step']}"
        if report.get("best_eval_loss") is not None
        else ""
    )
    if report.get("keep") == "last" and report.get("final_eval_loss") is not None:
        best = f", the last adapter kept (eval loss {report['final_eval_loss']:.4f}){best}"
    out.print(f"{report['steps']} steps{best}")
    out.print(f"adapter: {result.adapter}")
