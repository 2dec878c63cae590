"""`tunesmith run`: prepare → train → package → publish in one call, each step skipped when its outputs are
current.

prepare and train already reuse their outputs when their inputs are unchanged (hashes in data_report.json and
train_report.json) and resume from checkpoints; this module does the same for the package (runs/<name>/.package.json:
a hash of the adapter's bytes, the base model's identity and the `package` section, plus each package file's size
and mtime, so an edited or truncated file is rebuilt) and the release (runs/<name>/.publish.json: the package's hash
and the targets). A crash at any step is resumed by running the same command again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from tunesmith import __version__
from tunesmith.config import Config
from tunesmith.files import write_text_atomic
from tunesmith.progress import SILENT, Progress
from tunesmith.run_project import finished_run, record_project
from tunesmith.stamps import folder_identity
from tunesmith.trainer.base_model import chat_template_of

__all__ = ["RunOutcome", "package_run", "run_pipeline"]

PACKAGE_STAMP = ".package.json"
PUBLISH_STAMP = ".publish.json"


@dataclass(frozen=True)
class RunOutcome:
    """Where everything of the run is, and what each step did (`trained`, `packaged`, `released` are False when
    the step's earlier outputs were reused)."""

    run_dir: Path
    train_report: dict[str, Any]
    trained: bool
    package: Any  # tunesmith.packager.PackageResult
    packaged: bool
    published: dict[str, str] = field(default_factory=dict)
    released: bool = False


def run_pipeline(
    config: Config,
    *,
    progress: Progress = SILENT,
    display: Any = None,
    restart: bool = False,
    ollama_host: str | None = None,
) -> RunOutcome:
    """Run every step `config` asks for; `config.base` must already be a model folder (see `resolve_base`)."""
    from tunesmith.trainer import train_adapter
    from tunesmith.trainer.run_status import advance_status, recording_status

    publishing = bool(config.publish.hf or config.publish.ollama)
    steps = 3 if publishing else 2
    # status.json follows the steps; a failure records the message the command prints.
    with recording_status(config, start="preparing", end="done") as root:
        progress.note(f"[bold]step 1/{steps}: prepare and train[/bold]")
        trained = train_adapter(config, progress=progress, display=display, restart=restart)
        record_project(config, trained.run_dir)

        progress.note(f"[bold]step 2/{steps}: package[/bold]")
        advance_status(root, "packaging")
        package, stamp, packaged = _package(config, trained.run_dir, trained.adapter, progress)

        published: dict[str, str] = {}
        released = False
        if publishing:
            progress.note(f"[bold]step 3/{steps}: publish[/bold]")
            advance_status(root, "publishing")
            published, released = _publish(config, trained.run_dir, package.path, stamp, ollama_host, progress)
    return RunOutcome(trained.run_dir, trained.report, not trained.reused, package, packaged, published, released)


def package_run(run_dir: Path, *, progress: Progress = SILENT) -> tuple[Any, bool]:
    """Package a finished run's adapter as its recorded project says (the `package` step of `run_pipeline` alone);
    returns (the PackageResult, built now: False when the recorded package was current)."""
    from tunesmith.trainer.run_status import recording_status

    config = finished_run(run_dir)
    with recording_status(config, start="packaging", end="done"):
        package, _, packaged = _package(config, run_dir, run_dir / "adapter", progress)
    return package, packaged


def _package(config: Config, run_dir: Path, adapter: Path, progress: Progress) -> tuple[Any, str, bool]:
    """The run's package, built unless the recorded one is current; returns (result, its stamp, built now)."""
    from tunesmith.packager.package import PackageResult, PackageSpec, build_package

    out = run_dir / "package"
    inputs = _package_inputs(config, adapter)
    stamp = _digest(inputs)
    recorded = _read_stamp(run_dir / PACKAGE_STAMP)
    stale = _stale_package(recorded, inputs, stamp, out)
    if stale is None:
        result = recorded["result"]
        progress.note(f"package is current for this adapter, base model and `package:` section: reusing {out}")
        return (
            PackageResult(
                out,
                result["name"],
                [out / name for name in result["files"]],
                result["family"],
                result["template_note"],
                result["quality"],
                result["passed"],
            ),
            stamp,
            False,
        )
    if recorded:
        progress.note(f"packaging again: {stale}")

    modelfile = config.package.modelfile
    spec = PackageSpec(
        base=Path(str(config.base)),
        adapter=adapter,
        out=out,
        name=config.name,
        quants=tuple(config.package.quant),
        system=modelfile.system,
        parameters=dict(modelfile.parameters),
        template_file=Path(config.package.template) if config.package.template else None,
        chat_template=chat_template_of(config),
        as_adapter=config.package.as_adapter,
        force=True,
    )
    package = build_package(spec, progress=progress)
    record = {
        "name": package.name,
        "files": [path.name for path in package.files],
        "family": package.family,
        "template_note": package.template_note,
        "quality": package.quality,
        "passed": package.passed,
    }
    stamped = {"stamp": stamp, "inputs": inputs, "result": record, "files": _file_states(package.files)}
    write_text_atomic(run_dir / PACKAGE_STAMP, json.dumps(stamped, indent=2) + "\n")
    return package, stamp, True


_INPUT_NAMES = {
    "adapter": "the adapter",
    "base": "the base model (its config.json, or a file's size or mtime)",
    "settings": "the `package:` section, the chat template, the run's name or the tunesmith version",
}


def _stale_package(recorded: dict[str, Any], inputs: dict[str, str], stamp: str, out: Path) -> str | None:
    """Why the recorded package cannot be reused (None: it can), in words for the user."""
    if not recorded:
        return "no package is recorded for this run"
    if recorded.get("stamp") != stamp:
        recorded_inputs = recorded.get("inputs")
        before = recorded_inputs if isinstance(recorded_inputs, dict) else {}
        changed = [words for key, words in _INPUT_NAMES.items() if before.get(key) != inputs[key]]
        return f"{' and '.join(changed) or 'its inputs'} changed since {out} was built"
    result = recorded.get("result")
    names = result.get("files") if isinstance(result, dict) else None
    states = recorded.get("files")
    if not names or not isinstance(states, dict):
        return f"{out} was recorded without its files' sizes and mtimes"
    for name in names:
        path = out / name
        if not path.is_file():
            return f"{path} is missing"
        then, now = states.get(name), _file_states([path])[name]
        then = then if isinstance(then, dict) else {}
        if then.get("size") != now["size"]:
            return f"{path} is {now['size']} bytes, not the {then.get('size')} bytes it was packaged with"
        if then.get("mtime_ns") != now["mtime_ns"]:
            return f"{path} was modified after it was packaged"
    return None


def _file_states(paths: list[Path]) -> dict[str, dict[str, int]]:
    states = {}
    for path in paths:
        info = path.stat()
        states[path.name] = {"size": info.st_size, "mtime_ns": info.st_mtime_ns}
    return states


def _publish(
    config: Config, run_dir: Path, package_dir: Path, package_stamp: str, ollama_host: str | None, progress: Progress
) -> tuple[dict[str, str], bool]:
    """Release the package to the configured targets unless this very package went there already."""
    from tunesmith.publish import publish_package

    hf, ollama = config.publish.hf, config.publish.ollama
    targets = {
        "hf": hf.repo if hf else None,
        "private": hf.private if hf else None,
        "ollama": ollama.name if ollama else None,
    }
    recorded = _read_stamp(run_dir / PUBLISH_STAMP)
    if recorded.get("package") == package_stamp and recorded.get("targets") == targets and recorded.get("results"):
        progress.note(
            f"this package is already published to these targets (`tunesmith publish {package_dir}` sends it again)"
        )
        return dict(recorded["results"]), False
    results = publish_package(
        package_dir,
        hf=hf.repo if hf else None,
        ollama=ollama.name if ollama else None,
        private=hf.private if hf else True,
        ollama_host=ollama_host,
        progress=progress,
    )
    record = {"package": package_stamp, "targets": targets, "results": results}
    write_text_atomic(run_dir / PUBLISH_STAMP, json.dumps(record, indent=2) + "\n")
    return results, True


def _package_inputs(config: Config, adapter: Path) -> dict[str, str]:
    """A hash of each thing the package is built from: the adapter's bytes, the base's identity, the settings."""
    adapter_digest = hashlib.sha256()
    for path in sorted(adapter.iterdir()):
        if path.is_file():
            adapter_digest.update(path.name.encode())
            adapter_digest.update(_file_sha256(path))
    # The base's path is part of its identity, so a moved base counts as a changed base, not changed settings.
    settings = {
        "name": config.name,
        "package": msgspec.to_builtins(config.package),
        "tunesmith": __version__,
        "chat_template": chat_template_of(config),
    }
    return {
        "adapter": adapter_digest.hexdigest(),
        "base": _digest(folder_identity(Path(str(config.base)))),
        "settings": _digest(settings),
    }


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _file_sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def _read_stamp(path: Path) -> dict[str, Any]:
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}
