"""`tunesmith run`: the whole path from data to a packaged (and published) model in one command."""

from __future__ import annotations

from pathlib import Path

import click

from tunesmith.commands.options import ProjectOptions, config_options, ollama_host_option, progress_json_option

__all__ = ["print_run_summary", "run"]


@click.command()
@config_options(gpus=True)
@click.option("--restart", is_flag=True, help="Discard the run's checkpoints and train from the first step.")
@ollama_host_option("Ollama daemon that `publish.ollama` goes through (default http://127.0.0.1:11434).")
@progress_json_option
def run(project: ProjectOptions, restart: bool, ollama_host: str | None, progress_json: Path | None) -> None:
    """Prepare, train, package and publish (when the config has a `publish:` section) in one command.

    Each step is skipped when its outputs are current for the config: the data sections, the training settings,
    the adapter and the `package:` section are hashed into the run folder. Re-running after a crash resumes at the
    step that failed (training from its last checkpoint); after changing only `package:`, it re-packages without
    re-training. Ends with where every file is, the eval loss before and after training, the quality table, how to
    `ollama run` the model and the published URLs. Takes the same flags as `tunesmith train`.

    \b
    Examples:
      tunesmith run examples/chat-qa-csv/tunesmith.yaml
      tunesmith run --base embedded --data qa.csv --max-steps 60
      tunesmith run tunesmith.yaml --set package.quant='[Q4_K_M, Q8_0]'   # re-packages only
    """
    from tunesmith.console import err, progress_to, quiet_libraries

    with progress_to(progress_json) as (reporter, lines):
        # The config first: a typo is reported at once, not after the seconds the training libraries take to import.
        loaded = project.load(reporter)
        quiet_libraries()
        from tunesmith.pipeline import run_pipeline
        from tunesmith.trainer.live import RichTrainDisplay, TrainingTask

        display = RichTrainDisplay(err)
        outcome = run_pipeline(
            loaded,
            progress=reporter,
            display=display if lines is None else TrainingTask(lines, display),
            restart=restart,
            ollama_host=ollama_host,
        )
    print_run_summary(outcome, loaded)


def print_run_summary(outcome, config) -> None:
    """What each step did and where its files are, the eval loss before and after, the package, published URLs."""
    from tunesmith.commands.package import print_package_summary
    from tunesmith.console import out

    report, root = outcome.train_report, outcome.run_dir
    out.print(f"[bold]run[/bold] {root}")
    out.print(f"  data:     {root / 'data'} (train.jsonl, val.jsonl, data_report.json)")
    out.print(
        f"  train:    {'trained' if outcome.trained else 'reused'}, {report['steps']} steps on "
        f"{report['device']}, [bold]{report['fit']}[/bold] ({report['fit_reason']})"
    )
    before, best, final = report.get("initial_eval_loss"), report.get("best_eval_loss"), report.get("final_eval_loss")
    if before is not None and report.get("keep") == "last" and final is not None:
        best_at = f"; best {best:.4f} at step {report['best_step']}" if best is not None else ""
        out.print(
            f"  eval loss: {before:.4f} before training → {final:.4f} after (last, step {report['steps']}{best_at})"
        )
    elif before is not None and best is not None:
        out.print(f"  eval loss: {before:.4f} before training → {best:.4f} after (best, step {report['best_step']})")
    out.print(f"  adapter:  {report['adapter']}")
    out.print(f"  metrics:  {root / 'metrics.jsonl'}, curve {root / 'loss.png'}, report {root / 'train_report.json'}")
    out.print(f"  package:  {'built' if outcome.packaged else 'reused'}, {outcome.package.path}")
    print_package_summary(outcome.package)
    for target, url in outcome.published.items():
        out.print(
            f"[bold green]published[/bold green] to {'Hugging Face' if target == 'hf' else 'Ollama'}"
            f"{'' if outcome.released else ' (earlier)'}: {url}"
        )
    if "hf" in outcome.published:
        out.print(f"  run it:  ollama run hf.co/{config.publish.hf.repo}")
    if "ollama" in outcome.published:
        out.print(f"  run it:  ollama run {config.publish.ollama.name}")
