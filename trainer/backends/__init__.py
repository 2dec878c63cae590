"""Training backends behind one small protocol, and the choice between them (said aloud, never silent).

`hf` (transformers + peft, + bitsandbytes for QLoRA) runs everywhere. `unsloth` needs CUDA and the unsloth package;
`auto` picks it when both are there and `hf` otherwise, and says which and why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tunesmith.config import Config
from tunesmith.errors import TrainError
from tunesmith.progress import SILENT, Progress

__all__ = ["Backend", "Device", "FitResult", "detect_device", "lora_errors", "select_backend", "training_precision"]


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
        raise TrainError(f"cannot apply LoRA: {err}", where="lora.target_modules",
                         hint="List module names of this model (e.g. q_proj, v_proj) or use all-linear.") from err


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
    """The backend for `config` on `device`; an impossible request (QLoRA or unsloth without CUDA or its packages)
    is refused with the fix."""
    import importlib.util

    wanted = config.train.backend
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    if wanted == "unsloth" and device.kind != "cuda":
        raise TrainError("the unsloth backend needs a CUDA GPU; this machine has none", where="train.backend",
                         hint="Set `train.backend: hf` (or `auto`) to train the same adapter with transformers + peft.")
    if wanted == "unsloth" and not has_unsloth:
        raise TrainError("the unsloth backend needs the unsloth package, which is not installed",
                         where="train.backend",
                         hint="Install it with `pip install 'tunesmith[gpu]'`, or set `train.backend: hf` (or `auto`).")
    if wanted == "unsloth" and config.train.gpus > 1:
        raise TrainError(f"the unsloth backend trains on one GPU; train.gpus is {config.train.gpus}",
                         where="train.backend",
                         hint="Set `train.backend: hf` (or `auto`) to train on several GPUs with transformers + peft, "
                              "or train.gpus: 1 for unsloth.")
    if config.train.method == "qlora":
        if device.kind != "cuda":
            raise TrainError("QLoRA (4-bit base weights) needs a CUDA GPU with bitsandbytes; this machine has none",
                             where="train.method",
                             hint="Set `train.method: lora` (--set train.method=lora) to train the same adapter on "
                                  "a 32-bit base on CPU, or run on a CUDA machine.")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise TrainError("QLoRA needs the bitsandbytes package, which is not installed", where="train.method",
                             hint="Install it with `pip install 'tunesmith[gpu]'`, or set `train.method: lora`.")
    if wanted == "unsloth" or (wanted == "auto" and device.kind == "cuda" and has_unsloth and config.train.gpus == 1):
        from tunesmith.trainer.backends.unsloth import UnslothBackend

        if wanted == "auto":
            progress.note("backend: unsloth (CUDA GPU and unsloth found; `train.backend: hf` for transformers + peft)")
        return UnslothBackend()
    from tunesmith.trainer.backends.hf import HfBackend

    if wanted == "auto" and device.kind == "cuda" and has_unsloth:
        progress.note("backend: transformers + peft (unsloth trains on one GPU; train.gpus is "
                      f"{config.train.gpus})")
    elif wanted == "auto" and device.kind == "cuda":
        progress.note("backend: transformers + peft (unsloth is not installed; `pip install 'tunesmith[gpu]'` "
                      "trains faster on this GPU)")
    return HfBackend()
