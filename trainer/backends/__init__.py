"""Training backends behind one small protocol, and the choice between them (said aloud, never silent)."""

from tunesmith.trainer.backends.base import Backend, Device, FitRequest, FitResult, lora_errors, training_precision
from tunesmith.trainer.backends.selection import detect_device, select_backend

__all__ = [
    "Backend",
    "Device",
    "FitRequest",
    "FitResult",
    "detect_device",
    "lora_errors",
    "select_backend",
    "training_precision",
]
