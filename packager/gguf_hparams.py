"""config.json as the GGUF writers read it: hyperparameters under any of their historical names, RoPE in one dict.

Hand-written because transformers' config classes differ per family and per release; the converter needs one view
of the raw JSON that also says which key is missing, in which file.
"""

from __future__ import annotations

from typing import Any

from tunesmith.errors import ModelError

__all__ = ["Hparams"]


class Hparams:
    """config.json, with a multimodal `text_config` lifted to the top and RoPE settings gathered in one dict."""

    def __init__(self, config: dict[str, Any], where: str = "config.json") -> None:
        self.raw = {**config, **config.get("text_config", {})}
        self.where = where
        rope = dict(self.raw.get("rope_parameters") or self.raw.get("rope_scaling") or {})
        if "full_attention" not in rope and "sliding_attention" not in rope:
            # Older configs keep these beside rope_scaling; newer ones inside rope_parameters.
            mirrored = {
                "rope_theta": self.find(
                    "global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base"
                ),
                "rope_type": rope.get("type"),
                "partial_rotary_factor": self.find("partial_rotary_factor", "rope_pct", "rope_percent"),
                "original_max_position_embeddings": self.find("original_max_position_embeddings"),
            }
            local_theta = self.find(
                "local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta", "rope_local_base_freq"
            )
            if local_theta is not None:
                rope["sliding_attention"] = {"rope_theta": local_theta}
            for key, value in mirrored.items():
                if key not in rope and value is not None:
                    rope[key] = value
        self.rope = rope

    def find(self, *keys: str, default: Any = None) -> Any:
        return next((self.raw[key] for key in keys if key in self.raw), default)

    def need(self, *keys: str) -> Any:
        """The first of `keys` present; a missing value is the user's broken config, reported as such."""
        value = self.find(*keys)
        if value is None:
            raise ModelError(
                f"config.json has no {' or '.join(map(repr, keys))}, which the GGUF file needs",
                where=self.where,
                hint="Copy config.json from the base model, or save the model again with transformers.",
            )
        return value

    def __getitem__(self, key: str) -> Any:
        return self.need(key)

    @property
    def block_count(self) -> int:
        return int(self.need("n_layers", "num_hidden_layers", "n_layer", "num_layers"))

    @property
    def head_count(self) -> int:
        return int(self.need("num_attention_heads", "n_head", "n_heads"))

    @property
    def head_count_kv(self) -> int:
        return int(self.find("num_key_value_heads", "n_kv_heads", default=self.head_count))

    @property
    def full_rope(self) -> dict[str, Any]:
        return self.rope.get("full_attention", self.rope)
