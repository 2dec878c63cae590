"""tunesmith.trainer: user data → cleaned, deduplicated, chunked, split → LoRA/QLoRA adapter with metrics."""
