"""`train`: the recipe from prepared data to a PEFT adapter, read top to bottom.

prepare (reused when unchanged) → pick backend → resume point → format + pack → load base with LoRA → fit
(eval, early stopping, checkpoints) → save the best adapter → loss.png → fit verdict → train_report.json.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from tunesmith.config import Config, section_hash
from tunesmith.errors import DataError, TrainError
from tunesmith.files import atomic_dir, write_text_atomic
from tunesmith.progress import SILENT, Progress
from tunesmith.stamps import folder_identity
from tunesmith.trainer.backends import FitRequest, detect_device, select_backend
from tunesmith.trainer.base_model import chat_template_of, load_tokenizer, seq_len_of, with_model_limits
from tunesmith.trainer.checkpoints import checkpoint_step, resume_point
from tunesmith.trainer.collate import pack_examples, padded_rows
from tunesmith.trainer.distributed import FitPlan, check_devices, launch_workers, per_process
from tunesmith.trainer.format import Tokenized, format_record
from tunesmith.trainer.plot import plot_losses
from tunesmith.trainer.prepare import prepare_data, read_split
from tunesmith.trainer.records import Record
from tunesmith.trainer.run_dir import RunPaths
from tunesmith.trainer.run_status import advance_status
from tunesmith.trainer.verdict import fit_verdict

__all__ = ["TrainResult", "build_rows", "fit_and_save", "train_adapter"]


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    adapter: Path
    report: dict[str, Any]
    reused: bool


def train_adapter(
    config: Config, *, progress: Progress = SILENT, display: Any = None, restart: bool = False
) -> TrainResult:
    """Train a LoRA adapter for `config` into runs/<name>/adapter/, resuming from its checkpoints if any."""
    if config.train.save_steps and config.train.save_steps % config.train.eval_steps:
        raise TrainError(
            f"`train.save_steps` = {config.train.save_steps} is not a multiple of `train.eval_steps` = "
            f"{config.train.eval_steps}",
            where="train.save_steps",
            hint="The best adapter is picked among saved checkpoints; save at evaluation steps.",
        )
    config = with_model_limits(config)
    # An impossible request (QLoRA without CUDA, ...) is refused before prepare may rewrite the run's data, and the
    # backend chosen is said once, here (the training process, or each of several, picks the same one again).
    device = detect_device()
    select_backend(config, device, progress)
    check_devices(config.train.gpus, device.kind)
    worker_config = per_process(config, config.train.gpus)
    prepared = prepare_data(config, progress=progress)
    paths = prepared.paths
    advance_status(paths.root, "training")
    rows = prepared.report["rows_out"]
    progress.note(
        f"data: {rows['train']} training and {rows['val']} validation rows ({paths.data / 'data_report.json'})"
    )
    for warning in prepared.report["warnings"]:
        progress.note(f"warning: {warning}")
    # The base by its contents' identity, not its path alone: new weights in the same folder train again.
    settings = {
        "base": folder_identity(Path(str(config.base))),
        "data": prepared.report["config_hash"],
        "seed": config.seed,
        "lora": msgspec.to_builtins(config.lora),
        "train": msgspec.to_builtins(config.train),
    }
    settings_hash = section_hash(settings)
    if not restart and paths.report.is_file() and (paths.adapter / "adapter_config.json").is_file():
        done = json.loads(paths.report.read_text(encoding="utf-8"))
        if done.get("settings_hash") == settings_hash:
            progress.note(f"already trained with these settings: {paths.adapter} (pass --restart to train again)")
            return TrainResult(paths.root, paths.adapter, done, reused=True)
    checkpoint = resume_point(paths.checkpoints, settings, processes=config.train.gpus, restart=restart)
    resumed_at = checkpoint_step(checkpoint) if checkpoint else 0
    if checkpoint:
        progress.note(f"resuming from {checkpoint.name} (step {resumed_at})")

    from tunesmith.trainer.metrics import truncate_metrics

    truncate_metrics(paths.metrics, resumed_at)
    if config.train.gpus > 1:
        where = "one per GPU, NCCL" if device.kind == "cuda" else "on the CPU, gloo"
        progress.note(f"training in {config.train.gpus} processes ({where})")
        launch_workers(
            FitPlan(worker_config, paths.root, settings_hash, checkpoint), progress=progress, display=display
        )
        report = json.loads(paths.report.read_text(encoding="utf-8"))
    else:
        report = fit_and_save(
            FitPlan(config, paths.root, settings_hash, checkpoint), display=display, progress=progress
        )
    return TrainResult(paths.root, paths.adapter, report, reused=False)


def fit_and_save(plan: FitPlan, *, display: Any = None, progress: Progress = SILENT, rank: int = 0) -> dict[str, Any]:
    """Tokenize, load the base with LoRA, fit, then (rank 0 alone) save the best adapter, loss.png and
    train_report.json; returns the report ({} on other ranks). Runs in the training process itself: the only one,
    or rank `rank` of `config.train.gpus`."""
    from tunesmith.trainer.metrics import MetricsWriter, read_metrics

    config, checkpoint = plan.config, plan.checkpoint
    paths = RunPaths(plan.run_dir)
    device = detect_device()
    backend = select_backend(config, device)
    resumed_at = checkpoint_step(checkpoint) if checkpoint else 0
    tokenizer = load_tokenizer(config.base_model, chat_template_of(config))
    train_rows, skipped = build_rows(read_split(paths, "train"), tokenizer, config)
    val_rows, _ = build_rows(read_split(paths, "val"), tokenizer, config)
    if skipped:
        progress.note(
            f"{skipped} training example(s) have no assistant tokens within max_seq_len "
            f"({config.train.max_seq_len}) and are left out"
        )
    if not train_rows:
        raise DataError(
            "no training example has tokens to learn from",
            where=str(paths.data / "train.jsonl"),
            hint="Raise train.max_seq_len, or shorten the prompts.",
        )

    model, precision = backend.load(config, device, progress)
    callbacks = [MetricsWriter(paths.metrics)] + ([display] if display is not None else [])
    started = time.perf_counter()
    fit = backend.fit(
        model, FitRequest(tokenizer, train_rows, val_rows, config, paths.checkpoints, callbacks, checkpoint, precision)
    )
    if rank != 0:
        return {}
    with atomic_dir(paths.adapter, replace=True) as tmp:
        model.save_pretrained(tmp)

    metrics = read_metrics(paths.metrics)
    plot_losses(metrics, paths.plot, title=f"{config.name}: {Path(str(config.base)).name}")
    verdict = fit_verdict(metrics, keep=config.train.keep)
    train_losses = [row["loss"] for row in metrics if "loss" in row]
    report = {
        "name": config.name,
        "base": config.base,
        "backend": backend.name,
        "device": device.kind,
        "method": config.train.method,
        "precision": precision,
        "processes": config.train.gpus,
        "steps": fit.global_step,
        "resumed_from_step": resumed_at or None,
        "stopped_early": fit.stopped_early,
        "best_step": fit.best_step,
        "initial_eval_loss": next(
            (row["eval_loss"] for row in metrics if row.get("step") == 0 and "eval_loss" in row), None
        ),
        "best_eval_loss": fit.best_eval_loss,
        # Which adapter was saved (train.keep), and the eval loss of the last step's (evaluated whenever there is a
        # validation split, since training ends with an evaluation).
        "keep": config.train.keep,
        "final_eval_loss": next(
            (
                row["eval_loss"]
                for row in reversed(metrics)
                if row.get("step") == fit.global_step and "eval_loss" in row
            ),
            None,
        ),
        "final_train_loss": train_losses[-1] if train_losses else None,
        "tokens_seen": fit.tokens_seen,
        "train_rows": len(train_rows),
        "val_rows": len(val_rows),
        "seconds": round(time.perf_counter() - started, 1),
        "fit": verdict.fit,
        "fit_reason": verdict.reason,
        "adapter": str(paths.adapter),
        "settings_hash": plan.settings_hash,
    }
    write_text_atomic(paths.report, json.dumps(report, indent=2) + "\n")
    return report


def build_rows(records: list[Record], tokenizer: Any, config: Config) -> tuple[list[dict], int]:
    """Tokenize and label records, then pack them (or not); returns the rows and how many were left out."""
    max_seq_len = seq_len_of(config)
    examples: list[Tokenized] = []
    skipped = 0
    for record in records:
        example = format_record(record, tokenizer, max_seq_len)
        # A sample whose only learnable token is its first cannot teach anything once packed (its first label is
        # masked), and one with none at all is a truncated chat.
        if sum(1 for label in example.labels[1:] if label != -100) == 0:
            skipped += 1
            continue
        examples.append(example)
    rows = pack_examples(examples, max_seq_len) if config.train.packing else padded_rows(examples)
    return rows, skipped
