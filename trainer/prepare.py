"""`prepare`: data sources → runs/<name>/data/ (train.jsonl, val.jsonl, data_report.json), top to bottom.

ingest → clean → dedup → chunk (raw text) → group near-duplicate chunks → split → token counts → report. The output
is reused when the config sections and the source files are unchanged (a hash of both is stored in the report).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.config import Config, section_hash
from tunesmith.errors import DataError
from tunesmith.files import atomic_dir, write_text_atomic
from tunesmith.progress import SILENT, Progress
from tunesmith.trainer.base_model import chat_template_of, load_tokenizer, seq_len_of, with_model_limits
from tunesmith.trainer.chunk import chunk_records
from tunesmith.trainer.clean import clean_records
from tunesmith.trainer.data_report import build_report, chat_counts, plan_training
from tunesmith.trainer.dedup import dedup_records, group_near_duplicate_chunks
from tunesmith.trainer.format import format_record
from tunesmith.trainer.ingest import read_source
from tunesmith.trainer.records import Record, record_from_json, record_to_json
from tunesmith.trainer.run_dir import RunPaths, claim_run_dir
from tunesmith.trainer.run_status import advance_status
from tunesmith.trainer.split import split_records

__all__ = ["PreparedData", "prepare_data", "read_split"]


@dataclass(frozen=True)
class PreparedData:
    paths: RunPaths
    report: dict[str, Any]
    reused: bool


def prepare_data(config: Config, *, progress: Progress = SILENT) -> PreparedData:
    """Build (or reuse) the run's data folder and return its report."""
    config = with_model_limits(config)
    paths = claim_run_dir(config, create=False)
    digest = _data_hash(config)
    report_path = paths.data / "data_report.json"
    if report_path.is_file() and (paths.data / "train.jsonl").is_file():
        previous = json.loads(report_path.read_text(encoding="utf-8"))
        if previous.get("config_hash") == digest and "plan" in previous:
            progress.note(f"data unchanged since the last prepare: reusing {paths.data}")
            report = plan_training(previous, config.train)  # `train:` may have changed since
            if report != previous:
                write_text_atomic(report_path, json.dumps(report, indent=2) + "\n")
            return PreparedData(paths, report, reused=True)

    tokenizer = load_tokenizer(config.base_model, chat_template_of(config))
    records: list[Record] = []
    sources: list[dict[str, Any]] = []
    with progress.task("Reading data sources", total=len(config.data)) as advance:
        for source in config.data:
            data = read_source(source)
            how = "detected" if data.detected else "configured"
            columns = f", columns {data.mapping}" if data.mapping else ""
            progress.note(f"{data.path}: {data.format} ({how}), {len(data.records)} rows{columns}")
            if data.converted:
                progress.note(
                    f"{data.path}: converted on reading: "
                    + ", ".join(f"{count} {name} rows" for name, count in sorted(data.converted.items()))
                )
            sources.append(
                {
                    "path": data.path,
                    "format": data.format,
                    "detected": data.detected,
                    "columns": data.mapping,
                    "rows": len(data.records),
                    "converted": data.converted,
                }
            )
            records += data.records
            advance(1)
    rows_in = len(records)
    with progress.task("Cleaning and deduplicating"):
        cleaned = clean_records(records, config.clean)
        deduped = dedup_records(
            cleaned.kept,
            exact=config.clean.dedup,
            near=config.clean.near_dedup,
            threshold=config.clean.near_dup_threshold,
            seed=config.seed,
        )
    dropped = cleaned.dropped + deduped.dropped
    if not deduped.kept:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(dropped.items()))
        raise DataError(
            f"every one of the {rows_in} rows was filtered out ({reasons})",
            where=", ".join(s["path"] for s in sources),
            hint="Loosen the `clean:` settings (min_chars, max_chars, banned_phrases, near_dup_threshold) "
            "or check the column mapping.",
        )
    kind = "text" if all(r.kind == "text" for r in deduped.kept) else "chat"
    text_bytes = sum(len(r.content.encode()) for r in deduped.kept)
    max_tokens = config.chunk.max_tokens or seq_len_of(config) - 2
    with progress.task("Chunking raw text by tokens"):
        chunked = chunk_records(deduped.kept, tokenizer, max_tokens, config.chunk.overlap_tokens)
        if len(chunked) > len(deduped.kept):
            chunked = group_near_duplicate_chunks(chunked, threshold=config.clean.near_dup_threshold, seed=config.seed)
    train, val = split_records(chunked, config.split.val_fraction, config.seed)
    with progress.task("Counting tokens", total=len(train) + len(val)) as advance:
        lengths = []
        for record in train + val:
            lengths.append(len(format_record(record, tokenizer, 10**9).input_ids))
            advance(1)
    report = build_report(
        sources=sources,
        rows_in=rows_in,
        dropped=dropped,
        kind=kind,
        train_lengths=lengths[: len(train)],
        val_lengths=lengths[len(train) :],
        text_bytes=text_bytes,
        train=config.train,
        config_hash=digest,
        chats=chat_counts(train + val, lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]))
        if kind == "chat"
        else None,
    )
    claim_run_dir(config)
    advance_status(paths.root, "preparing")  # a first run's status starts with its folder
    with atomic_dir(paths.data, replace=True) as tmp:
        _write_jsonl(tmp / "train.jsonl", train)
        _write_jsonl(tmp / "val.jsonl", val)
        (tmp / "data_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return PreparedData(paths, report, reused=False)


def read_split(paths: RunPaths, split: str) -> list[Record]:
    """The records of data/<split>.jsonl, as `prepare` wrote them."""
    path = paths.data / f"{split}.jsonl"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [record_from_json(json.loads(line), f"{path}:{n}") for n, line in enumerate(handle, 1) if line.strip()]


def _write_jsonl(path: Path, records: list[Record]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record_to_json(record), ensure_ascii=False) + "\n")


def _data_hash(config: Config) -> str:
    """Hash of what the prepared data depends on: the data-side config and the bytes of every source file."""
    files = []
    for source in config.data:
        path = Path(source.path)
        members = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        members += [Path(source.tools)] if source.tools else []
        for member in members:
            digest = hashlib.sha256()
            if member.is_file():
                with member.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
            files.append((str(member), digest.hexdigest()))
    return section_hash(
        config.base,
        config.data,
        config.clean,
        config.chunk,
        config.split,
        config.seed,
        config.train.max_seq_len,
        files,
        chat_template_of(config),
    )
