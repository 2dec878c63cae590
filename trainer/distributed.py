"""Data-parallel training over several processes: `train.gpus: N` (or `tunesmith train --gpus N`).

The parent process prepares the data, decides reuse and the resume point, then starts N workers with PyTorch's own
launcher (`torch.distributed.run --standalone`, what `torchrun` and `accelerate launch --multi_gpu` run). Inside each
worker the transformers Trainer, through accelerate, wraps the model in DDP and shards every batch by rank: NCCL on
CUDA, gloo on a machine without one (how the distributed path is tested on CPU). `accelerate launch` itself is not
used as the launcher because its only multi-process path on CPU goes through MPI.

trainer/worker.py holds the launcher and worker processes, each tied to its parent's life. Rank 0 shows nothing
itself: what it reports reaches the `Progress` and display this process was given (trainer/relay.py).

The global batch stays what the config says, batch_size x grad_accum: each process accumulates grad_accum / N
micro-batches (or, when that does not divide, takes batch_size / N rows per micro-batch). Rank 0 alone writes
metrics.jsonl, the adapter, loss.png and train_report.json; the Trainer's checkpoints hold every rank's RNG state,
so a killed run resumes with the same N as exactly as a single process does. A worker that stops on a
`TunesmithError` (bad data, say) hands it to the parent through a file, so the user sees that error, once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from tunesmith import errors
from tunesmith.config import Config
from tunesmith.errors import TrainError, TunesmithError
from tunesmith.files import write_text_atomic
from tunesmith.progress import SILENT, Progress
from tunesmith.trainer.relay import relay_to

__all__ = ["FitPlan", "check_devices", "launch_workers", "per_process"]

LAUNCH_FILE = ".launch.json"
ERROR_FILE = ".worker-error.json"


@dataclass(frozen=True)
class FitPlan:
    """One training of a run, as its process (or each of several) carries it out: the config, the run folder, the
    hash of the training settings (train_report.json records it) and the checkpoint to resume from (None: the first
    step)."""

    config: Config
    run_dir: Path
    settings_hash: str
    checkpoint: Path | None

    def to_json(self) -> dict[str, Any]:
        return {
            "config": msgspec.to_builtins(self.config),
            "run_dir": str(self.run_dir),
            "settings_hash": self.settings_hash,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FitPlan:
        checkpoint = Path(data["checkpoint"]) if data["checkpoint"] else None
        return cls(msgspec.convert(data["config"], Config), Path(data["run_dir"]), data["settings_hash"], checkpoint)


REPORTED = 2  # a worker's exit status once it has written its TunesmithError to ERROR_FILE


def per_process(config: Config, processes: int) -> Config:
    """`config` with the micro-batch or accumulation of one process of `processes`, keeping the global batch."""
    train = config.train
    if processes == 1:
        return config
    if train.grad_accum % processes == 0:
        train = msgspec.structs.replace(train, grad_accum=train.grad_accum // processes)
    elif train.batch_size % processes == 0:
        train = msgspec.structs.replace(train, batch_size=train.batch_size // processes)
    else:
        raise TrainError(
            f"a global batch of train.batch_size {train.batch_size} x train.grad_accum "
            f"{train.grad_accum} cannot be split evenly over {processes} processes",
            where="train.gpus",
            hint=f"Make train.grad_accum or train.batch_size a multiple of {processes}, e.g. "
            f"--set train.grad_accum={processes * train.grad_accum}.",
        )
    return msgspec.structs.replace(config, train=train)


def check_devices(processes: int, device_kind: str) -> None:
    """Refuse more processes than GPUs; on a machine without CUDA, N processes run on the CPU."""
    if device_kind != "cuda":
        return
    import torch

    count = torch.cuda.device_count()
    if processes > count:
        raise TrainError(
            f"train.gpus = {processes}, but this machine has {count} CUDA GPU(s)",
            where="train.gpus",
            hint=f"Use --gpus {count} or fewer.",
        )


def launch_workers(plan: FitPlan, *, progress: Progress = SILENT, display: Any = None) -> None:
    """Carry out `plan` in `plan.config.train.gpus` worker processes and wait for them, showing rank 0's progress on
    `progress` and its training on `display` (a Trainer callback); a worker's `TunesmithError` is raised here."""
    processes, run_dir = plan.config.train.gpus, plan.run_dir
    launch, failure = run_dir / LAUNCH_FILE, run_dir / ERROR_FILE
    failure.unlink(missing_ok=True)
    import torch

    env = dict(os.environ)
    # Threads per worker: what torchrun sets on a GPU; on the CPU the cores are shared out between the workers.
    env.setdefault(
        "OMP_NUM_THREADS", "1" if torch.cuda.is_available() else str(max(1, (os.cpu_count() or 1) // processes))
    )
    command = [sys.executable, "-m", "tunesmith.trainer.worker", "launch", str(processes), str(launch)]
    with relay_to(progress, display) as relay:
        write_text_atomic(
            launch,
            json.dumps({"plan": plan.to_json(), "display": display is not None, "relay": relay}) + "\n",
        )
        done = subprocess.run(command, env=env, check=False)
    if failure.is_file():
        reported = json.loads(failure.read_text(encoding="utf-8"))
        failure.unlink()
        raise _error_from(reported)
    if done.returncode != 0:
        raise TrainError(
            f"the {processes} training processes stopped with exit status {done.returncode}",
            where=str(run_dir),
            hint="The output above says why; once that is fixed, run the same "
            "command again to resume from the last checkpoint.",
        )
    launch.unlink(missing_ok=True)


def _error_from(data: dict[str, Any]) -> TunesmithError:
    kind = getattr(errors, data.get("type", ""), TrainError)
    if not (isinstance(kind, type) and issubclass(kind, TunesmithError)):
        kind = TrainError
    return kind(data["message"], where=data.get("where"), hint=data.get("hint"))
