"""Training backends behind one small protocol, and the choice between them (said aloud, never silent).

`hf` (transformers + peft) runs everywhere: on CPU and as the CUDA fallback. `unsloth` is the CUDA slot; its
implementation is not part of this release, so asking for it is a clear error and `auto` says it chose `hf`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tunesmith.config import Config
from tunesmith.errors import TrainError
from tunesmith.progress import SILENT, Progress

__all__ = ["Backend", "Device", "FitResult", "detect_device", "select_backend"]


@dataclass(frozen=True)
class Device:
    kind: str  # "cpu" or "cuda"
    bf16: bool


@dataclass(frozen=True)
class FitResult:
    global_step: int
    best_step: int | None
    best_eval_loss: float | None
    stopped_early: bool
    tokens_seen: int


class Backend(Protocol):
    """Loads the base model with LoRA applied, and trains it on prepared rows."""

    name: str

    def load(self, config: Config, device: Device, progress: Progress) -> tuple[Any, str]:
        """Return (peft model, precision name)."""
        ...

    def fit(self, model: Any, tokenizer: Any, train_rows: list[dict], val_rows: list[dict], config: Config,
            checkpoints: Path, callbacks: list[Any], resume_from: Path | None, precision: str) -> FitResult:
        """Train until max_steps/epochs or early stopping; leave the best weights in `model`."""
        ...


def detect_device() -> Device:
    import torch

    if torch.cuda.is_available():
        return Device("cuda", torch.cuda.is_bf16_supported())
    return Device("cpu", False)


def select_backend(config: Config, device: Device, progress: Progress = SILENT) -> Backend:
    """The backend for `config` on `device`; QLoRA without CUDA and bitsandbytes is refused with the fix."""
    if config.train.method == "qlora":
        if device.kind != "cuda":
            raise TrainError("QLoRA (4-bit base weights) needs a CUDA GPU with bitsandbytes; this machine has none",
                             where="train.method",
                             hint="Set `train.method: lora` (--set train.method=lora) to train the same adapter on "
                                  "a 32-bit base on CPU, or run on a CUDA machine.")
        import importlib.util

        if importlib.util.find_spec("bitsandbytes") is None:
            raise TrainError("QLoRA needs the bitsandbytes package, which is not installed", where="train.method",
                             hint="Install it with `pip install 'tunesmith[gpu]'`, or set `train.method: lora`.")
    if config.train.backend == "unsloth":
        raise TrainError("the unsloth backend is not available in this release", where="train.backend",
                         hint="Set `train.backend: hf` (or `auto`); it trains the same adapter with transformers "
                              "+ peft.")
    from tunesmith.trainer.backends.hf import HfBackend

    if config.train.backend == "auto" and device.kind == "cuda":
        progress.note("backend: transformers + peft (the unsloth backend is not available in this release)")
    return HfBackend()
