"""What every training backend shares: the protocol it speaks, the types that cross it (the device, the fit's
result), and the precision and LoRA-error rules both backends follow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tunesmith.config import Config
from tunesmith.errors import TrainError
from tunesmith.progress import Progress

__all__ = ["Backend", "Device", "FitRequest", "FitResult", "lora_errors", "training_precision"]


@dataclass(frozen=True)
class Device:
    kind: str  # "cpu" or "cuda"
    bf16: bool


@dataclass(frozen=True)
class FitRequest:
    """What a fit trains on besides the model: tokenized, labelled rows, the run's config, where checkpoints go, the
    Trainer callbacks, the checkpoint to resume from (None for a fresh start) and the precision the model was loaded
    in."""

    tokenizer: Any
    train_rows: list[dict]
    val_rows: list[dict]
    config: Config
    checkpoints: Path
    callbacks: list[Any]
    resume_from: Path | None
    precision: str


@dataclass(frozen=True)
class FitResult:
    global_step: int
    best_step: int | None
    best_eval_loss: float | None
    stopped_early: bool
    tokens_seen: int


def training_precision(config: Config, device: Device) -> str:
    """fp32 on CPU (half precision there is slow or unsupported in many kernels); on CUDA, `auto` is bf16 where the
    GPU has it, else fp16."""
    wanted = config.train.precision
    if device.kind == "cpu":
        return "fp32"
    if wanted == "auto":
        return "bf16" if device.bf16 else "fp16"
    if wanted == "bf16" and not device.bf16:
        raise TrainError("this GPU does not support bf16", where="train.precision", hint="Use fp16 or auto.")
    return wanted


@contextlib.contextmanager
def lora_errors() -> Iterator[None]:
    """peft's refusal to apply LoRA (a target module the model lacks) as the config error it is."""
    try:
        yield
    except ValueError as err:
        raise TrainError(
            f"cannot apply LoRA: {err}",
            where="lora.target_modules",
            hint="List module names of this model (e.g. q_proj, v_proj) or use all-linear.",
        ) from err


class Backend(Protocol):
    """Loads the base model with LoRA applied, and trains it on prepared rows."""

    name: str

    def load(self, config: Config, device: Device, progress: Progress) -> tuple[Any, str]:
        """Return (peft model, precision name)."""
        ...

    def fit(self, model: Any, request: FitRequest) -> FitResult:
        """Train until max_steps/epochs or early stopping; leave the best weights in `model`."""
        ...
