"""The quality report of a package: does the GGUF behave like the Hugging Face model, and what does quantizing cost?

Each check records its value, its threshold and a sentence saying what it means; the thresholds are defined below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.errors import PackageError
from tunesmith.packager.quality_llama import GGUFSession, open_gguf
from tunesmith.progress import SILENT, Progress

__all__ = ["PERPLEXITY_RATIO_LIMITS", "Check", "QualityReport", "measure_quality", "perplexity"]

# Tokenizer: the GGUF's ids for the sample text must equal the Hugging Face tokenizer's, exactly.
# f16 logits, on the sample text (the HF ids fed to both; HF run in float32): the top-1 token agrees at >= 98 % of
# positions, and max |Δlogit| <= 2 % of the largest |logit| (f16 arithmetic costs ~0.2 %; a wrong conversion whole
# units). Tiny random models have near-ties, hence not 100 %.
TOP1_MIN = 0.98
MAX_DIFF_FRACTION = 0.02
# f16 perplexity on the held-out text within ±2 % of the HF model's (same ids, same windows).
F16_PERPLEXITY_GAP_MAX = 0.02
# Quantized perplexity / f16 perplexity, per type: what the extra rounding costs (even when the f16 itself came from
# a quantized original, as the embedded SmolLM2 did). Measured on SmolLM2-135M: Q8_0 1.016, Q4_K_M 1.087. Random
# tiny models say nothing about quantization: measure them with `quantized={}`.
# Every GGUF must also answer `chat_prompt` (in its own chat template) with a greedy reply that ends on an
# end-of-generation token or a `stop` string before `num_predict` tokens.
PERPLEXITY_RATIO_LIMITS: dict[str, float] = {
    "F32": 1.005,
    "F16": 1.005,
    "BF16": 1.01,
    "Q8_0": 1.03,
    "Q6_K": 1.05,
    "Q5_K_M": 1.08,
    "Q5_K_S": 1.08,
    "Q5_0": 1.08,
    "Q5_1": 1.08,
    "Q4_K_M": 1.15,
    "Q4_K_S": 1.18,
    "Q4_0": 1.2,
    "Q4_1": 1.2,
    "IQ4_NL": 1.18,
    "IQ4_XS": 1.18,
    "Q3_K_L": 1.3,
    "Q3_K_M": 1.35,
    "Q3_K_S": 1.45,
    "IQ3_M": 1.35,
    "IQ3_S": 1.4,
    "IQ3_XS": 1.45,
    "IQ3_XXS": 1.5,
}
_LOW_BIT_LIMIT = 2.0  # 2-bit and ternary types: only gross breakage is worth flagging
_CONTEXT = 512
_MAX_HELDOUT_TOKENS = 4096


@dataclass(frozen=True)
class Check:
    """One named measurement with its threshold; `comparison` says how value and threshold relate (≥, ≤, =)."""

    name: str
    value: Any
    threshold: Any
    passed: bool
    explanation: str
    comparison: str = "≥"


@dataclass
class QualityReport:
    """All checks of one package; `passed` when every check passed."""

    checks: list[Check] = field(default_factory=list)
    perplexity: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "perplexity": dict(self.perplexity),
            "checks": [asdict(check) for check in self.checks],
        }

    def to_markdown(self) -> str:
        lines = ["| check | value | threshold | result |", "|---|---|---|---|"]
        for check in self.checks:
            result = "pass" if check.passed else "**FAIL**"
            cells = [check.name, _fmt(check.value), f"{check.comparison} {_fmt(check.threshold)}", result]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        lines.append("")
        lines += [f"- **{check.name}**: {check.explanation}" for check in self.checks]
        return "\n".join(lines) + "\n"


def measure_quality(
    hf_dir: Path,
    f16_gguf: Path,
    quantized: dict[str, Path],
    *,
    sample_text: str,
    heldout_text: str,
    chat_prompt: str | None,
    stop: list[str],
    num_predict: int = 128,
    threads: int | None = None,
    adapter: Path | None = None,
    progress: Progress = SILENT,
) -> QualityReport:
    """Compare the f16 GGUF with the HF model in `hf_dir`, and each quantized GGUF with the f16; see the module.

    `threads` is llama.cpp's thread count (default: every core). With a GGUF LoRA `adapter`, every GGUF runs with it
    applied, and `hf_dir` is the model merged with that adapter.
    """
    for key, text in (("sample_text", sample_text), ("heldout_text", heldout_text)):
        if len(text.split()) < 2:
            raise PackageError(
                f"{key} is too short to measure anything ({len(text)} characters)",
                where=key,
                hint="Give a few sentences of plain text (the built-in texts are in quality_text).",
            )
    report = QualityReport()
    with progress.task("Quality: running the Hugging Face model in float32"):
        hf = _HFModel(Path(hf_dir))
        hf_ids = hf.token_ids(sample_text)
        hf_logits = hf.logits(hf_ids)
    with (
        progress.task("Quality: checking the f16 GGUF against it"),
        open_gguf(f16_gguf, n_ctx=_CONTEXT, threads=threads, adapter=adapter) as f16,
    ):
        report.checks.append(_tokenizer_check(hf_ids, f16.tokenize(sample_text)))
        report.checks.extend(_logit_checks(hf_logits, f16.logits(hf_ids[:_CONTEXT])))
        heldout = f16.tokenize(heldout_text)[:_MAX_HELDOUT_TOKENS]
        windows = _windows(heldout)
        report.perplexity["hf"] = perplexity(windows, hf.logits)
        report.perplexity["f16"] = perplexity(windows, f16.logits)
        gap = abs(report.perplexity["f16"] / report.perplexity["hf"] - 1)
        report.checks.append(
            Check(
                "f16 perplexity gap to HF",
                round(gap, 4),
                F16_PERPLEXITY_GAP_MAX,
                gap <= F16_PERPLEXITY_GAP_MAX,
                f"perplexity on {len(heldout)} held-out tokens: f16 GGUF {report.perplexity['f16']:.3f}, HF float32 "
                f"{report.perplexity['hf']:.3f} (relative gap, either way)",
                "≤",
            )
        )
        if chat_prompt is not None:
            report.checks.append(_generation_check("f16", f16, chat_prompt, stop, num_predict))
    for quant, path in quantized.items():
        with (
            progress.task(f"Quality: measuring {quant}"),
            open_gguf(path, n_ctx=_CONTEXT, threads=threads, adapter=adapter) as session,
        ):
            report.perplexity[quant] = perplexity(windows, session.logits)
            report.checks.append(_quant_check(quant, report.perplexity[quant], report.perplexity["f16"]))
            if chat_prompt is not None:
                report.checks.append(_generation_check(quant, session, chat_prompt, stop, num_predict))
    return report


def perplexity(windows: list[list[int]], logits_of: Callable[[list[int]], np.ndarray]) -> float:
    """exp(mean negative log-likelihood) of each window's tokens after its first, each window scored on its own."""
    total, count = 0.0, 0
    for window in windows:
        logits = np.asarray(logits_of(window), dtype=np.float64)[:-1]
        peak = logits.max(axis=-1, keepdims=True)
        log_norm = np.log(np.exp(logits - peak).sum(axis=-1)) + peak[:, 0]
        targets = np.asarray(window[1:])
        total += float((log_norm - logits[np.arange(len(targets)), targets]).sum())
        count += len(targets)
    return float(np.exp(total / count))


def _windows(tokens: list[int]) -> list[list[int]]:
    windows = [tokens[i : i + _CONTEXT] for i in range(0, len(tokens), _CONTEXT)]
    return [window for window in windows if len(window) > 1]


def _tokenizer_check(hf_ids: list[int], gguf_ids: list[int]) -> Check:
    same = hf_ids == gguf_ids
    if same:
        text = f"the GGUF tokenizer gives the same {len(hf_ids)} ids as the Hugging Face tokenizer"
    else:
        first = next((i for i, (a, b) in enumerate(zip(hf_ids, gguf_ids)) if a != b), min(len(hf_ids), len(gguf_ids)))
        text = (
            f"the ids differ from position {first} (HF {hf_ids[first : first + 5]}, GGUF "
            f"{gguf_ids[first : first + 5]}; {len(hf_ids)} vs {len(gguf_ids)} ids): prompts will not be seen as in "
            f"training"
        )
    return Check("tokenizer ids match", same, True, same, text, "=")


def _logit_checks(hf_logits: np.ndarray, gguf_logits: np.ndarray) -> list[Check]:
    hf_logits = hf_logits[: len(gguf_logits)]
    top1 = float((hf_logits.argmax(-1) == gguf_logits.argmax(-1)).mean())
    diff = float(np.abs(hf_logits - gguf_logits).max())
    bound = MAX_DIFF_FRACTION * float(np.abs(hf_logits).max())
    return [
        Check(
            "f16 top-1 agreement",
            round(top1, 4),
            TOP1_MIN,
            top1 >= TOP1_MIN,
            f"the f16 GGUF predicts the same next token as the HF model at {top1:.1%} of {len(hf_logits)} positions",
        ),
        Check(
            "f16 max abs logit diff",
            round(diff, 4),
            round(bound, 4),
            diff <= bound,
            f"largest logit difference to the HF model; the bound is {MAX_DIFF_FRACTION:.0%} of the largest "
            f"|logit| ({bound / MAX_DIFF_FRACTION:.2f})",
            "≤",
        ),
    ]


def _quant_check(quant: str, quant_ppl: float, f16_ppl: float) -> Check:
    limit = PERPLEXITY_RATIO_LIMITS.get(quant, _LOW_BIT_LIMIT)
    ratio = quant_ppl / f16_ppl
    return Check(
        f"{quant} perplexity / f16",
        round(ratio, 4),
        limit,
        ratio <= limit,
        f"{quant} perplexity {quant_ppl:.3f} against f16 {f16_ppl:.3f}: quantizing costs {ratio - 1:+.1%}",
        "≤",
    )


def _generation_check(label: str, session: GGUFSession, chat_prompt: str, stop: list[str], num_predict: int) -> Check:
    try:
        prompt = session.chat_prompt(chat_prompt)
    except PackageError as err:
        return Check(f"{label} reply stops", "no reply", num_predict, False, err.message, "<")
    result = session.generate(prompt, num_predict, stop)
    ended = result.ended_by != "limit"
    reply = result.text if len(result.text) <= 120 else result.text[:117] + "..."
    how = (
        f"ended on {result.stop_text!r} after {len(result.tokens)} tokens"
        if ended
        else f"ran to the {num_predict}-token limit without an end token or stop string"
    )
    return Check(
        f"{label} reply stops",
        len(result.tokens),
        num_predict,
        ended,
        f"greedy reply to the chat prompt {how}: {reply!r}",
        "<",
    )


class _HFModel:
    """The Hugging Face model and tokenizer of `hf_dir`, run in float32 on the CPU."""

    def __init__(self, hf_dir: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        from tunesmith.errors import ModelError
        from tunesmith.tokenizer_folder import load_folder_tokenizer

        self.tokenizer = load_folder_tokenizer(hf_dir)
        try:
            self.model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
        except (OSError, ValueError) as err:
            raise ModelError(
                f"cannot load the Hugging Face model: {err}",
                where=str(hf_dir),
                hint="Pass the merged 16-bit model folder the GGUF was converted from.",
            ) from err
        self._torch = torch

    def token_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text)["input_ids"])

    def logits(self, ids: list[int]) -> np.ndarray:
        with self._torch.inference_mode():
            out = self.model(self._torch.tensor([ids[:_CONTEXT]]))
        return out.logits[0].float().numpy()


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)
