"""`tunesmith package`: base (+ adapter) → merged 16-bit → GGUF → quantized files, Modelfile, quality report, card.

The package folder appears whole or not at all: it is assembled under a temporary name and renamed at the end. The
intermediate merged model and f16 GGUF live in a work folder beside it, keyed by a hash of the inputs, so a re-run
after a crash picks up where the last one stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tunesmith.embedded_base import known_identity
from tunesmith.errors import PackageError
from tunesmith.files import atomic_dir
from tunesmith.packager.model_folder import open_model_folder
from tunesmith.packager.template_view import with_chat_template
from tunesmith.progress import SILENT, Progress
from tunesmith.tokenizer_folder import load_folder_tokenizer
from tunesmith.user_files import read_text_file

__all__ = ["PackageResult", "PackageSpec", "build_package"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class PackageSpec:
    """What to package and how. `quants[0]` is the file the Modelfile's FROM names."""

    base: Path
    out: Path
    adapter: Path | None = None
    name: str | None = None
    quants: Sequence[str] = ("Q4_K_M",)
    system: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    template_file: Path | None = None
    # A Jinja chat template the model was trained with instead of the base's own (`chat_template:`).
    chat_template: str | None = None
    base_model_id: str | None = None
    license: str | None = None
    eval_text: str | None = None
    eval_prompt: str | None = None
    force: bool = False
    # Keep the adapter a separate GGUF (Modelfile FROM base + ADAPTER) instead of merging it into the weights.
    as_adapter: bool = False


@dataclass(frozen=True)
class PackageResult:
    path: Path
    name: str
    files: list[Path]
    family: str
    template_note: str
    quality: dict[str, Any]
    passed: bool


def build_package(spec: PackageSpec, *, progress: Progress = SILENT) -> PackageResult:
    """Build the package folder `spec.out`; raise a TunesmithError on bad input before any long step."""
    from tunesmith.packager.quantize import QUANT_TYPES, QuantizeResult, quantize_gguf

    out = spec.out.resolve()
    name = spec.name or out.name
    quants = _check_quants(spec.quants, QUANT_TYPES)
    _check_name(name)
    _check_output(out, [spec.base, spec.adapter], spec.force)
    base = open_model_folder(spec.base)
    work = out.parent / f".{out.name}.work" / _inputs_hash(spec)
    if spec.chat_template is not None:
        spec = replace(spec, base=with_chat_template(base.path, spec.chat_template, work / "base"))
        base = open_model_folder(spec.base)
    adapter_file = _check_as_adapter(spec, name)
    chat = _chat_format(base.path, spec.template_file, progress)
    stem = f"{name}-base" if adapter_file else name  # in adapter mode the quantized files hold the base alone
    modelfile = _modelfile(spec, chat, f"./{stem}-{quants[0]}.gguf", f"./{adapter_file}" if adapter_file else None)

    model_dir = _merged_model(spec.base, spec.adapter, work, progress) if spec.adapter else base.path
    # The merged model stays the quality report's reference; in adapter mode the GGUF holds the base alone.
    f16 = (
        _f16_gguf(base.path, work, progress, "base-f16.gguf") if adapter_file else _f16_gguf(model_dir, work, progress)
    )

    from tunesmith.modelfiles import render_modelfile
    from tunesmith.packager.card import CardContent, card_file, render_model_card
    from tunesmith.packager.quality import measure_quality
    from tunesmith.packager.quality_text import HELDOUT_TEXT, SAMPLE_PROMPT, SAMPLE_TEXT

    with atomic_dir(out, replace=spec.force) as tmp:
        files: dict[str, Path] = {}
        written: dict[str, QuantizeResult] = {}
        for quant in quants:
            target = tmp / f"{stem}-{quant}.gguf"
            if quant == "F16":
                _link_or_copy(f16, target)
            else:
                written[quant] = quantize_gguf(f16, target, quant, progress=progress)
            files[quant] = target
        adapter_gguf = (
            _adapter_gguf(spec.adapter, spec.base, tmp / adapter_file, progress)
            if adapter_file and spec.adapter
            else None
        )
        # With an adapter file, every GGUF is measured with it applied, against the merged model.
        report = measure_quality(
            model_dir,
            f16,
            {q: p for q, p in files.items() if q != "F16"},
            sample_text=SAMPLE_TEXT,
            heldout_text=spec.eval_text or HELDOUT_TEXT,
            chat_prompt=spec.eval_prompt or SAMPLE_PROMPT,
            stop=list(chat.stop),
            adapter=adapter_gguf,
            progress=progress,
        )
        (tmp / "Modelfile").write_text(render_modelfile(modelfile), encoding="utf-8")
        # What llama.cpp really stored per file: a type it could not use for some rows is a quality fact too.
        quality = {
            **report.to_json(),
            "files": {quant: result.to_json() for quant, result in written.items()},
            "chat": {"family": chat.family, "tools": chat.tools, "thinking": chat.thinking, "note": chat.note},
        }
        (tmp / "quality.json").write_text(json.dumps(quality, indent=2) + "\n", encoding="utf-8")
        license_text = _license_text(base.path)
        if license_text:
            (tmp / "LICENSE").write_text(license_text, encoding="utf-8")
        known_id, known_license = known_identity(base.path)
        card_files = [card_file(path, quant, written.get(quant)) for quant, path in files.items()]
        card = CardContent(
            name=name,
            files=card_files,
            family=chat.family,
            parameters=modelfile.parameters,
            base_model=spec.base_model_id or _base_model_id(spec) or known_id,
            license=spec.license or known_license,
            adapter=str(spec.adapter) if spec.adapter else None,
            system=spec.system,
            quality_markdown=report.to_markdown(),
            adapter_file=card_file(adapter_gguf, "F16") if adapter_gguf else None,
            tools=chat.tools,
            thinking=chat.thinking,
        )
        (tmp / "README.md").write_text(render_model_card(card), encoding="utf-8")
    shutil.rmtree(work.parent, ignore_errors=True)
    return PackageResult(out, name, sorted(out.iterdir()), chat.family, chat.note, quality, report.passed)


def _check_quants(requested: Sequence[str], valid: Mapping[str, Any]) -> list[str]:
    from tunesmith.packager.quantize import normalize_quant

    quants = list(dict.fromkeys(normalize_quant(q) for q in requested))
    if not quants:
        raise PackageError("no quantization type given", hint=f"Pass --quant, e.g. Q4_K_M; valid: {', '.join(valid)}.")
    return quants


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise PackageError(
            f"package name {name!r} is not usable as a file and model name",
            hint="Use letters, digits, '.', '_' and '-' (e.g. --name my-model).",
        )


def _check_output(out: Path, inputs: Sequence[Path | None], force: bool) -> None:
    for source in inputs:
        if source is None:
            continue
        source = Path(source).resolve()
        if out == source or source in out.parents or out in source.parents:
            raise PackageError(
                "the output folder overlaps an input folder",
                where=str(out),
                hint=f"Choose an --out outside {source} (and not a parent of it).",
            )
    if out.exists() and not force:
        raise PackageError(
            "the output folder already exists",
            where=str(out),
            hint="Choose another --out, or pass --force to replace it once the new package is built.",
        )


def _chat_format(model_dir: Path, template_file: Path | None, progress: Progress):
    from tunesmith.modelfiles import choose_chat_format

    override = None
    if template_file is not None:
        hint = "Pass a readable Go template file (UTF-8, as Ollama reads it) with --template."
        override = read_text_file(Path(template_file), what="the template file", error=PackageError, hint=hint)
    tokenizer = load_folder_tokenizer(model_dir)
    chat = choose_chat_format(
        tokenizer.chat_template,
        bos_token=tokenizer.bos_token,
        eos_token=tokenizer.eos_token,
        template_override=override,
    )
    progress.note(chat.note)
    return chat


def _check_as_adapter(spec: PackageSpec, name: str) -> str | None:
    """The adapter file's name when the adapter is to stay a separate GGUF; checked before any long step."""
    if not spec.as_adapter:
        return None
    if spec.adapter is None:
        raise PackageError(
            "--as-adapter needs an adapter to keep separate",
            where="--as-adapter",
            hint="Pass the LoRA adapter folder with --adapter DIR, or drop --as-adapter.",
        )
    from tunesmith.packager.adapter_gguf import check_adapter_for_gguf

    check_adapter_for_gguf(spec.adapter, spec.base)
    return f"{name}-adapter-F16.gguf"


def _adapter_gguf(adapter: Path, base: Path, target: Path, progress: Progress) -> Path:
    from tunesmith.packager.adapter_gguf import convert_adapter_to_gguf

    return convert_adapter_to_gguf(adapter, base, target, progress=progress)


def _modelfile(spec: PackageSpec, chat, from_: str, adapter: str | None = None):
    from tunesmith.modelfiles import Modelfile, coerce_parameters

    parameters = dict(chat.parameters)
    user = coerce_parameters(dict(spec.parameters))
    # The user's stops come on top of the template's turn-ending tokens: dropping those makes the model never stop.
    parameters["stop"] = list(dict.fromkeys([*chat.stop, *user.pop("stop", [])]))
    parameters.update(user)
    return Modelfile(from_=from_, adapter=adapter, template=chat.template, system=spec.system, parameters=parameters)


def _merged_model(base: Path, adapter: Path, work: Path, progress: Progress) -> Path:
    from tunesmith.packager.merge import merge_adapter

    merged = work / "merged"
    if not (merged / "config.json").is_file():
        merge_adapter(base, adapter, merged, progress=progress)
    return merged


def _f16_gguf(model_dir: Path, work: Path, progress: Progress, file_name: str = "model-f16.gguf") -> Path:
    from tunesmith.packager.convert import convert_to_gguf

    f16 = work / file_name
    if not f16.is_file():
        convert_to_gguf(model_dir, f16, out_type="f16", progress=progress)
    return f16


def _inputs_hash(spec: PackageSpec) -> str:
    # What the intermediates depend on: the weights of base and adapter (by name, size and mtime, cheap to read),
    # and the chat template they are given.
    digest = hashlib.sha256((spec.chat_template or "").encode())
    for folder in (spec.base, spec.adapter):
        if folder is None:
            continue
        for path in sorted(Path(folder).glob("*")):
            if path.is_file():
                stat = path.stat()
                digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _license_text(model_dir: Path) -> str | None:
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md"):
        path = model_dir / name
        if path.is_file():
            return path.read_text(encoding="utf-8", errors="replace")
    return None


def _base_model_id(spec: PackageSpec) -> str | None:
    # An adapter records the Hub id of the model it was trained on; a local path is no use on a card.
    if spec.adapter is None:
        return None
    config_path = Path(spec.adapter) / "adapter_config.json"
    try:
        base = json.loads(config_path.read_text()).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None
    return base if isinstance(base, str) and "/" in base and not os.path.isabs(base) else None
