"""tunesmith.trainer: user data → cleaned, deduplicated, chunked, split → LoRA/QLoRA adapter with metrics."""

from tunesmith.trainer.prepare import PreparedData, prepare_data, read_split
from tunesmith.trainer.train import TrainResult, build_rows, train_adapter

__all__ = ["PreparedData", "TrainResult", "build_rows", "prepare_data", "read_split", "train_adapter"]
