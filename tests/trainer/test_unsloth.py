"""The unsloth backend without a GPU: which backend each config gets on each machine, the exact arguments handed to
FastLanguageModel (a stand-in module records them), and its fit running the shared Trainer loop on CPU."""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import ClassVar

import pytest
import torch

from tests.fixtures.progress import RecordingProgress
from tests.trainer.helpers import QA
from tunesmith.config import load_config
from tunesmith.errors import TrainError
from tunesmith.progress import SILENT
from tunesmith.trainer import build_rows
from tunesmith.trainer.backends import Device, FitRequest, select_backend
from tunesmith.trainer.backends.unsloth import UnslothBackend
from tunesmith.trainer.records import Record

CUDA = Device("cuda", bf16=True)
CUDA_FP16_ONLY = Device("cuda", bf16=False)
CPU = Device("cpu", bf16=False)


@pytest.fixture
def installed(monkeypatch):
    """Pretend exactly the named optional packages are importable (the others are missing)."""
    real = importlib.util.find_spec

    def pretend(*names: str) -> None:
        def find_spec(name, *args, **kwargs):
            if name in ("unsloth", "bitsandbytes"):
                return types.SimpleNamespace(name=name) if name in names else None
            return real(name, *args, **kwargs)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    return pretend


def _config(*overrides: str, base: str = "unused"):
    return load_config(base=base, data=["qa.csv"], overrides=list(overrides))


SELECTION = [
    # (case, backend, method, device, installed packages, chosen backend or error text)
    ("auto on CPU trains with transformers", "auto", "lora", CPU, ("unsloth",), "hf"),
    ("auto on CUDA with unsloth picks unsloth", "auto", "lora", CUDA, ("unsloth",), "unsloth"),
    ("auto on CUDA without unsloth falls back", "auto", "lora", CUDA, (), "hf"),
    ("auto QLoRA on CUDA with both picks unsloth", "auto", "qlora", CUDA, ("unsloth", "bitsandbytes"), "unsloth"),
    ("hf forces transformers on CUDA", "hf", "lora", CUDA, ("unsloth",), "hf"),
    ("hf QLoRA uses bitsandbytes", "hf", "qlora", CUDA, ("unsloth", "bitsandbytes"), "hf"),
    ("unsloth when asked on CUDA", "unsloth", "lora", CUDA, ("unsloth",), "unsloth"),
    ("unsloth without a GPU", "unsloth", "lora", CPU, ("unsloth",), "unsloth backend needs a CUDA GPU"),
    ("unsloth not installed", "unsloth", "lora", CUDA, (), "needs the unsloth package"),
    ("hf QLoRA without bitsandbytes", "hf", "qlora", CUDA, ("unsloth",), "needs the bitsandbytes package"),
    ("unsloth QLoRA without bitsandbytes", "unsloth", "qlora", CUDA, ("unsloth",), "needs the bitsandbytes package"),
    ("QLoRA on CPU", "auto", "qlora", CPU, ("unsloth", "bitsandbytes"), "QLoRA (4-bit base weights) needs a CUDA"),
]


@pytest.mark.parametrize(
    "case, backend, method, device, packages, expected", SELECTION, ids=[row[0] for row in SELECTION]
)
def test_select_backend(installed, case, backend, method, device, packages, expected):
    installed(*packages)
    config = _config(f"train.backend={backend}", f"train.method={method}")
    if expected in ("hf", "unsloth"):
        assert select_backend(config, device).name == expected
        return
    with pytest.raises(TrainError) as caught:
        select_backend(config, device)
    error = caught.value
    assert expected in error.message
    assert error.where in ("train.backend", "train.method")
    assert "train." in error.hint or "pip install" in error.hint


@pytest.mark.parametrize(
    "packages, said",
    [(("unsloth",), "backend: unsloth"), ((), "backend: transformers + peft (unsloth is not installed")],
)
def test_auto_on_cuda_says_which_backend_it_chose_and_why(installed, packages, said):
    installed(*packages)
    notes = RecordingProgress()
    select_backend(_config(), CUDA, notes)
    assert len(notes.notes) == 1 and notes.notes[0].startswith(said)


def test_a_forced_or_cpu_choice_is_not_announced(installed):
    installed("unsloth")
    notes = RecordingProgress()
    select_backend(_config("train.backend=hf"), CUDA, notes)
    select_backend(_config(), CPU, notes)
    select_backend(_config("train.backend=unsloth"), CUDA, notes)
    assert notes.notes == []


class _FakeFastLanguageModel:
    """Records the calls the backend makes; `model` is what from_pretrained hands back."""

    calls: ClassVar[list[tuple[str, dict]]] = []
    model = None

    @classmethod
    def from_pretrained(cls, **kwargs):
        cls.calls.append(("from_pretrained", kwargs))
        return cls.model, "unsloth's tokenizer"

    @classmethod
    def get_peft_model(cls, model, **kwargs):
        cls.calls.append(("get_peft_model", kwargs))
        return ("peft", model)


@pytest.fixture
def fake_unsloth(monkeypatch):
    module = types.ModuleType("unsloth")
    module.FastLanguageModel = _FakeFastLanguageModel
    _FakeFastLanguageModel.calls = []
    _FakeFastLanguageModel.model = types.SimpleNamespace(config=types.SimpleNamespace(use_cache=True))
    monkeypatch.setitem(sys.modules, "unsloth", module)
    return _FakeFastLanguageModel


MAPPING = [
    # (case, overrides, device, precision, dtype, 4-bit, checkpointing, targets, rslora)
    ("LoRA defaults", [], CUDA, "bf16", torch.bfloat16, False, "unsloth", "all-linear", False),
    ("QLoRA", ["train.method=qlora"], CUDA, "bf16", torch.bfloat16, True, "unsloth", "all-linear", False),
    ("fp16 GPU", [], CUDA_FP16_ONLY, "fp16", torch.float16, False, "unsloth", "all-linear", False),
    ("fp16 asked", ["train.precision=fp16"], CUDA, "fp16", torch.float16, False, "unsloth", "all-linear", False),
    (
        "no checkpointing",
        ["train.gradient_checkpointing=false"],
        CUDA,
        "bf16",
        torch.bfloat16,
        False,
        False,
        "all-linear",
        False,
    ),
    (
        "listed targets, rsLoRA",
        ["lora.target_modules=[q_proj, v_proj]", "lora.rslora=true"],
        CUDA,
        "bf16",
        torch.bfloat16,
        False,
        "unsloth",
        ["q_proj", "v_proj"],
        True,
    ),
]


@pytest.mark.parametrize(
    "case, overrides, device, precision, dtype, four_bit, checkpointing, targets, rslora",
    MAPPING,
    ids=[row[0] for row in MAPPING],
)
def test_load_hands_the_config_to_fast_language_model(
    fake_unsloth, case, overrides, device, precision, dtype, four_bit, checkpointing, targets, rslora
):
    # Packing joins a batch of 4 into one sequence: unsloth is told to expect 4 x max_seq_len tokens.
    config = _config(
        "train.max_seq_len=512",
        "train.batch_size=4",
        "lora.r=8",
        "lora.alpha=16",
        "lora.dropout=0.1",
        "seed=7",
        *overrides,
        base="/models/base",
    )
    model, chosen = UnslothBackend().load(config, device, SILENT)
    assert chosen == precision
    assert model == ("peft", fake_unsloth.model) and fake_unsloth.model.config.use_cache is False
    assert fake_unsloth.calls == [
        (
            "from_pretrained",
            {
                "model_name": "/models/base",
                "max_seq_length": 512 * 4,
                "dtype": dtype,
                "load_in_4bit": four_bit,
                "load_in_16bit": not four_bit,
                "full_finetuning": False,
                "use_exact_model_name": True,
                "fix_tokenizer": False,
                "use_gradient_checkpointing": checkpointing,
                "random_state": 7,
            },
        ),
        (
            "get_peft_model",
            {
                "r": 8,
                "lora_alpha": 16,
                "lora_dropout": 0.1,
                "target_modules": targets,
                "bias": "none",
                "use_rslora": rslora,
                "use_gradient_checkpointing": checkpointing,
                "random_state": 7,
                "max_seq_length": 512 * 4,
            },
        ),
    ]


LOAD_ERRORS = [
    ("no GPU", [], CPU, "needs a CUDA GPU", "train.backend"),
    ("bf16 on a GPU without it", ["train.precision=bf16"], CUDA_FP16_ONLY, "does not support bf16", "train.precision"),
]


@pytest.mark.parametrize("case, overrides, device, message, where", LOAD_ERRORS, ids=[r[0] for r in LOAD_ERRORS])
def test_load_refuses_what_cannot_run(fake_unsloth, case, overrides, device, message, where):
    with pytest.raises(TrainError) as caught:
        UnslothBackend().load(_config(*overrides), device, SILENT)
    assert message in caught.value.message and caught.value.where == where
    assert fake_unsloth.calls == []


def test_an_unimportable_unsloth_is_a_train_error_that_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "unsloth", None)  # import unsloth raises ImportError
    with pytest.raises(TrainError) as caught:
        UnslothBackend().load(_config(), CUDA, SILENT)
    assert "cannot import unsloth" in caught.value.message
    assert "train.backend: hf" in caught.value.hint and isinstance(caught.value.__cause__, ImportError)


def test_a_broken_base_folder_is_a_model_error(fake_unsloth, monkeypatch):
    from tunesmith.errors import ModelError

    def broken(**kwargs):
        raise OSError("model.safetensors: unexpected end of file")

    monkeypatch.setattr(fake_unsloth, "from_pretrained", staticmethod(broken))
    with pytest.raises(ModelError) as caught:
        UnslothBackend().load(_config(base="/models/base"), CUDA, SILENT)
    assert caught.value.where == "/models/base" and "unexpected end of file" in caught.value.message


def test_fit_runs_the_shared_trainer_loop_without_replacing_unsloths_checkpointing(tiny_llama, tmp_path):
    """On CPU, with a plain peft model standing in for unsloth's: the same rows train, checkpoints land where the
    resume logic looks, and the Trainer leaves gradient checkpointing to the model (unsloth installed its own)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tunesmith.trainer.base_model import load_tokenizer

    config = _config(
        "train.max_seq_len=64",
        "train.batch_size=2",
        "train.eval_steps=2",
        "train.max_steps=4",
        "train.learning_rate=0.01",
        "train.early_stopping_patience=0",
        base=str(tiny_llama),
    )
    assert config.train.gradient_checkpointing
    tokenizer = load_tokenizer(tiny_llama)
    records = [
        Record("chat", f"qa.csv:{i}", messages=({"role": "user", "content": q}, {"role": "assistant", "content": a}))
        for i, (q, a) in enumerate(QA[:24])
    ]
    rows, _ = build_rows(records, tokenizer, config)
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32),
        LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    enabled: list[bool] = []
    for name in ("gradient_checkpointing_enable", "activation_checkpointing_enable"):  # transformers <5.20, >=5.20
        setattr(model, name, lambda *args, **kwargs: enabled.append(True))
    before = {k: v.clone() for k, v in model.named_parameters() if "lora_B" in k}
    request = FitRequest(tokenizer, rows[:16], rows[16:], config, tmp_path / "checkpoints", [], None, "fp32")
    fit = UnslothBackend().fit(model, request)
    assert enabled == []
    assert fit.global_step == 4 and fit.tokens_seen > 0 and fit.best_step in (2, 4)
    saved = sorted(p.name for p in (tmp_path / "checkpoints").glob("checkpoint-*"))
    assert saved == ["checkpoint-2", "checkpoint-4"]
    assert all((tmp_path / "checkpoints" / name / "adapter_model.safetensors").is_file() for name in saved)
    after = dict(model.named_parameters())
    assert any(not torch.equal(before[k], after[k]) for k in before)
