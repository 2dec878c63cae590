"""The typed project config: one YAML file (axolotl-like keys) plus flags and `--set key=value` overrides.

msgspec validates the YAML into frozen structs; its errors are re-worded to name the key, the bad value and what is
allowed. Data paths are resolved against the config file's folder, so a project folder can be moved as a whole.
"""

from __future__ import annotations

import hashlib
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from tunesmith.errors import ConfigError
from tunesmith.overrides import apply_overrides
from tunesmith.structs import convert_struct
from tunesmith.user_files import read_yaml_file

__all__ = [
    "FORMATS",
    "Chunk",
    "Clean",
    "Config",
    "HfTarget",
    "Lora",
    "ModelfileSpec",
    "OllamaTarget",
    "Package",
    "Publish",
    "Source",
    "Split",
    "Train",
    "load_config",
    "section_hash",
]

FORMATS = ("auto", "csv", "tsv", "jsonl", "parquet", "text", "hf_disk")
_Pos = Annotated[int, msgspec.Meta(ge=1)]
_NonNeg = Annotated[int, msgspec.Meta(ge=0)]
_Fraction = Annotated[float, msgspec.Meta(ge=0.0, lt=1.0)]


class _Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Every section is frozen; msgspec passes that on to subclasses, and each still says `frozen=True` because type
    checkers read the class keywords of a dataclass_transform class as not inherited."""


class Source(_Section, frozen=True):
    """One data source: a file or folder, its format (`auto` detects it) and an optional column mapping."""

    path: str
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet", "text", "hf_disk"] = "auto"
    # role -> column name, roles: prompt, response, system, text, messages (e.g. {prompt: Question, response: Answer})
    columns: dict[str, str] = {}
    system: str | None = None
    # A JSON file of tool definitions for the chats whose rows carry none (OpenAI's `tools` list).
    tools: str | None = None
    # The assistant's thinking (`reasoning_content`): learned, kept in the prompt as context only, or dropped.
    reasoning: Literal["learn", "context", "drop"] = "learn"


class Clean(_Section, frozen=True):
    unicode: Literal["NFC", "NFKC", "none"] = "NFC"
    strip_boilerplate: bool = False
    min_chars: _NonNeg = 1
    max_chars: _Pos | None = None
    dedup: bool = True
    near_dedup: bool = True
    near_dup_threshold: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] = 0.8
    banned_phrases: list[str] = []


class Chunk(_Section, frozen=True):
    """Raw-text chunking for continued pre-training, in tokens of the base tokenizer."""

    max_tokens: _Pos | None = None  # default: train.max_seq_len - 2 (room for BOS and EOS)
    overlap_tokens: _NonNeg = 32


class Split(_Section, frozen=True):
    val_fraction: _Fraction = 0.1


class Lora(_Section, frozen=True):
    r: _Pos = 16
    alpha: Annotated[float, msgspec.Meta(gt=0)] = 32
    dropout: _Fraction = 0.05
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    rslora: bool = False


class Train(_Section, frozen=True):
    method: Literal["lora", "qlora"] = "lora"
    backend: Literal["auto", "hf", "unsloth"] = "auto"
    # Training processes, one per GPU (data parallel); the global batch stays batch_size x grad_accum.
    gpus: _Pos = 1
    learning_rate: Annotated[float, msgspec.Meta(gt=0)] = 2e-4
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: _Fraction = 0.03
    warmup_steps: _NonNeg | None = None
    epochs: Annotated[float, msgspec.Meta(gt=0)] = 3.0
    max_steps: _Pos | None = None
    batch_size: _Pos = 4
    grad_accum: _Pos = 1
    max_seq_len: Annotated[int, msgspec.Meta(ge=8)] | None = None  # default: 1024, or the model's context if less
    packing: bool = True
    gradient_checkpointing: bool = True
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    eval_steps: _Pos = 50
    save_steps: _Pos | None = None  # default: eval_steps (the best adapter is chosen among saved checkpoints)
    early_stopping_patience: _NonNeg | None = 3
    # The adapter training leaves: the checkpoint of lowest eval loss, or the last step's, for a data set to be learnt
    # by heart (a FAQ, the demo's). `last` trains every step: early stopping only serves keeping the best.
    keep: Literal["best", "last"] = "best"
    weight_decay: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    max_grad_norm: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    keep_checkpoints: _Pos = 3


class ModelfileSpec(_Section, frozen=True):
    system: str | None = None
    parameters: dict[str, str | int | float | list[str]] = {}


class Package(_Section, frozen=True):
    quant: list[str] = msgspec.field(default_factory=lambda: ["Q4_K_M"])
    modelfile: ModelfileSpec = ModelfileSpec()
    template: str | None = None  # a Go template file that replaces the detected chat family's
    # Keep the LoRA a separate GGUF adapter (Modelfile FROM base + ADAPTER) instead of merging it into the weights.
    as_adapter: bool = False


class HfTarget(_Section, frozen=True):
    repo: Annotated[str, msgspec.Meta(pattern=r"^[\w.-]+/[\w.-]+$")]
    private: bool = True


class OllamaTarget(_Section, frozen=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]


class Publish(_Section, frozen=True):
    hf: HfTarget | None = None
    ollama: OllamaTarget | None = None


class Config(_Section, frozen=True):
    """The whole project: what to train on, how, and where the run folder is."""

    base: str | None = None
    # A chat template for the base instead of its own: a shipped one's name (chatml, qwen2.5, qwen3) or a Jinja file.
    chat_template: str | None = None
    name: str | None = None
    output_dir: str | None = None  # default: runs/<name>
    seed: int = 42
    data: list[Source] = []
    clean: Clean = Clean()
    chunk: Chunk = Chunk()
    split: Split = Split()
    lora: Lora = Lora()
    train: Train = Train()
    package: Package = Package()
    publish: Publish = Publish()
    # `tunesmith serve --config` reads and validates this section (tunesmith.server.settings); the rest of
    # tunesmith accepts it as it is, so one project file holds both.
    serve: dict[str, Any] = {}

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) if self.output_dir else Path("runs") / (self.name or "run")

    @property
    def base_model(self) -> str:
        """`base`, which `load_config` requires; a Config built without it says so where the base is first needed."""
        if not self.base:
            raise ConfigError(
                "no base model given",
                where="base",
                hint="Set `base:` in the config or pass --base DIR (or --base embedded).",
            )
        return self.base


def load_config(
    path: str | Path | None = None,
    *,
    overrides: typing.Sequence[str] = (),
    base: str | None = None,
    data: typing.Sequence[str] = (),
    output_dir: str | None = None,
    max_steps: int | None = None,
) -> Config:
    """Read the YAML config (or start from defaults), apply flags then `--set` overrides, validate, resolve paths."""
    raw: dict[str, Any] = {}
    root = Path.cwd()
    where = "config"
    if path is not None:
        path = Path(path)
        where = str(path)
        # A key left empty (`train:` with nothing under it) means its defaults, as if it were absent.
        raw = {key: value for key, value in _read_yaml(path).items() if value is not None}
        root = path.resolve().parent
    if base is not None:
        raw["base"] = base
    if data:
        raw["data"] = [{"path": str(Path(item).resolve())} for item in data]
    if output_dir is not None:
        raw["output_dir"] = str(Path(output_dir).resolve())
    if max_steps is not None:
        raw.setdefault("train", {})
        if isinstance(raw["train"], dict):  # otherwise validation reports `train` for what it is
            raw["train"]["max_steps"] = max_steps
    raw = apply_overrides(raw, overrides)
    config = convert_struct(raw, Config, where=where, overridden=[item.partition("=")[0].strip() for item in overrides])
    if not config.base:
        raise ConfigError(
            "no base model given",
            where=f"{where}: base",
            hint="Set `base:` in the config or pass --base DIR (or --base embedded).",
        )
    if not config.data:
        raise ConfigError(
            "no training data given",
            where=f"{where}: data",
            hint="List sources under `data:` (e.g. `- path: qa.csv`) or pass --data FILE.",
        )
    return _resolve(config, root, path)


def section_hash(*values: Any) -> str:
    """A stable short hash of config sections (and any other msgspec-encodable values)."""
    return hashlib.sha256(msgspec.json.encode(values, order="sorted")).hexdigest()[:16]


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            "config file does not exist",
            where=str(path),
            hint="Pass the path of a YAML project file, or give --base and --data instead.",
        )
    raw = read_yaml_file(path, what="the config file", error=ConfigError)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            "the config must be a YAML mapping of keys (base:, data:, train: ...)",
            where=str(path),
            hint="See examples/ for complete configs.",
        )
    return raw


def _resolve(config: Config, root: Path, path: Path | None) -> Config:
    sources = [
        msgspec.structs.replace(
            s, path=str((root / s.path).resolve()), tools=str((root / s.tools).resolve()) if s.tools else None
        )
        for s in config.data
    ]
    name = config.name or (path.stem if path is not None else Path(sources[0].path).stem)
    if not re.fullmatch(r"[\w.-]+", name):
        raise ConfigError(
            f"`name` = {name!r} is not a valid run name",
            where="name",
            hint="Use letters, digits, '.', '-' and '_' only.",
        )
    output_dir = str(Path(config.output_dir).resolve() if config.output_dir else Path("runs").resolve() / name)
    base = config.base
    if base and (root / base).exists():
        base = str((root / base).resolve())
    template = config.chat_template
    if template and (root / template).is_file():
        template = str((root / template).resolve())
    return msgspec.structs.replace(
        config, base=base, chat_template=template, data=sources, name=name, output_dir=output_dir
    )
