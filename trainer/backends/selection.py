"""The choice of training backend for a config on a device, said aloud, never silent.

`hf` (transformers + peft, + bitsandbytes for QLoRA) runs everywhere. `unsloth` needs CUDA and the unsloth package;
`auto` picks it when both are there and `hf` otherwise, and says which and why. The backends are imported only once
chosen: each pulls in its own training libraries.
"""

from __future__ import annotations

from tunesmith.config import Config
from tunesmith.errors import TrainError
from tunesmith.progress import SILENT, Progress
from tunesmith.trainer.backends.base import Backend, Device

__all__ = ["detect_device", "select_backend"]


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
        raise TrainError(
            "the unsloth backend needs a CUDA GPU; this machine has none",
            where="train.backend",
            hint="Set `train.backend: hf` (or `auto`) to train the same adapter with transformers + peft.",
        )
    if wanted == "unsloth" and not has_unsloth:
        raise TrainError(
            "the unsloth backend needs the unsloth package, which is not installed",
            where="train.backend",
            hint="Install it with `pip install 'tunesmith[gpu]'`, or set `train.backend: hf` (or `auto`).",
        )
    if wanted == "unsloth" and config.train.gpus > 1:
        raise TrainError(
            f"the unsloth backend trains on one GPU; train.gpus is {config.train.gpus}",
            where="train.backend",
            hint="Set `train.backend: hf` (or `auto`) to train on several GPUs with transformers + peft, "
            "or train.gpus: 1 for unsloth.",
        )
    if config.train.method == "qlora":
        if device.kind != "cuda":
            raise TrainError(
                "QLoRA (4-bit base weights) needs a CUDA GPU with bitsandbytes; this machine has none",
                where="train.method",
                hint="Set `train.method: lora` (--set train.method=lora) to train the same adapter on "
                "a 32-bit base on CPU, or run on a CUDA machine.",
            )
        if importlib.util.find_spec("bitsandbytes") is None:
            raise TrainError(
                "QLoRA needs the bitsandbytes package, which is not installed",
                where="train.method",
                hint="Install it with `pip install 'tunesmith[gpu]'`, or set `train.method: lora`.",
            )
    if wanted == "unsloth" or (wanted == "auto" and device.kind == "cuda" and has_unsloth and config.train.gpus == 1):
        from tunesmith.trainer.backends.unsloth import UnslothBackend

        if wanted == "auto":
            progress.note("backend: unsloth (CUDA GPU and unsloth found; `train.backend: hf` for transformers + peft)")
        return UnslothBackend()
    from tunesmith.trainer.backends.hf import HfBackend

    if wanted == "auto" and device.kind == "cuda" and has_unsloth:
        progress.note(f"backend: transformers + peft (unsloth trains on one GPU; train.gpus is {config.train.gpus})")
    elif wanted == "auto" and device.kind == "cuda":
        progress.note(
            "backend: transformers + peft (unsloth is not installed; `pip install 'tunesmith[gpu]'` "
            "trains faster on this GPU)"
        )
    return HfBackend()
