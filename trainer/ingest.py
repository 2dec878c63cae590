"""Reading data sources (CSV/TSV, JSONL, Parquet, folders of .txt/.md, `save_to_disk` datasets) into records.

The format comes from the path alone (a saved dataset's metadata file, a folder of .txt/.md, the file suffix) unless
the config names it; the content is not sniffed, but reading fails with a named cause where it does not fit the
format (binary or non-UTF-8 bytes, tab-separated data in a .csv, a line that is not a JSON object). A .json or .jsonl
file may hold JSON lines or one JSON array. Every read error names the file and line or row, so a bad byte in row
40 000 is found without opening the file by hand.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.config import Source
from tunesmith.errors import DataError
from tunesmith.trainer.chat_tools import read_tools
from tunesmith.trainer.records import Record
from tunesmith.trainer.rows import find_mapping, rows_to_records
from tunesmith.user_files import parse_json_field, parse_json_text

__all__ = ["SourceData", "detect_format", "read_source"]

_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".txt": "text",
    ".md": "text",
    ".markdown": "text",
}
_TEXT_SUFFIXES = (".txt", ".md", ".markdown")


@dataclass(frozen=True)
class SourceData:
    """What one source yielded: its records, the format used, the column mapping (for tables), and how many chats
    were converted from another chat format (ShareGPT, Hermes)."""

    path: str
    format: str
    detected: bool
    mapping: dict[str, str]
    records: list[Record]
    converted: dict[str, int] = field(default_factory=dict)


def detect_format(path: Path) -> str:
    """The format of a data path, from what it is (folder, saved dataset) and its file name."""
    if not path.exists():
        raise DataError("data source does not exist", where=str(path), hint="Check the `path` of the data source.")
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            return "hf_disk"
        if any(p.suffix.lower() in _TEXT_SUFFIXES for p in path.rglob("*") if p.is_file()):
            return "text"
        raise DataError(
            "folder holds no .txt or .md files and is not a saved dataset",
            where=str(path),
            hint="Point `path` at a folder of .txt/.md files, a dataset saved with `save_to_disk`, "
            "or a single CSV/JSONL/Parquet file.",
        )
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"unknown data format {path.suffix or '(no extension)'!r}",
            where=str(path),
            hint="Supported: .csv, .tsv, .jsonl/.json, .parquet, .txt/.md or a folder of them, a "
            "`save_to_disk` dataset; or set `format:` in the data source.",
        )
    return fmt


def read_source(source: Source) -> SourceData:
    """Read one configured source into records."""
    path = Path(source.path)
    fmt = detect_format(path) if source.format == "auto" else source.format
    if not path.exists():
        raise DataError("data source does not exist", where=str(path), hint="Check the `path` of the data source.")
    if fmt == "text":
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _TEXT_SUFFIXES) if path.is_dir() else [path]
        records = [Record("text", str(f), text=_read_text(f)) for f in files]
        records = [r for r in records if r.text.strip()] if path.is_dir() else records
        if not records or not any(r.text.strip() for r in records):
            raise DataError("the text source is empty", where=str(path), hint="Add text, or remove this source.")
        return SourceData(str(path), fmt, source.format == "auto", {}, records)
    columns, rows = _TABLE_READERS[fmt](path)
    if not columns:
        raise DataError(
            "the file is empty (it holds no rows)", where=str(path), hint="Add data, or remove this source."
        )
    mapping = find_mapping(columns, source.columns, str(path))
    converted: Counter[str] = Counter()
    records = list(
        rows_to_records(
            rows,
            mapping,
            source.system,
            tools=_tools_file(source.tools),
            reasoning=source.reasoning,
            converted=converted,
        )
    )
    if not records:
        raise DataError("the file holds a header but no rows", where=str(path), hint="Add data rows below it.")
    return SourceData(str(path), fmt, source.format == "auto", mapping, records, dict(converted))


def _tools_file(path: str | None) -> tuple[dict[str, Any], ...]:
    if path is None:
        return ()
    if not Path(path).is_file():
        raise DataError(
            "the tools file does not exist",
            where=path,
            hint="Point `tools:` of the data source at a JSON file holding a list of tool definitions.",
        )
    return read_tools(_read_text(Path(path)), path)


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    nul = data.find(b"\x00")
    if nul >= 0:
        # Valid UTF-8 may hold NUL bytes, but text never does: this is a binary file (or UTF-16) named like text.
        line = data[:nul].count(b"\n") + 1
        raise DataError(
            f"file holds binary data, not text (a NUL byte at offset {nul})",
            where=f"{path}:{line}",
            hint="Point the source at a text file; if it is UTF-16 text, re-save it as UTF-8.",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"file is not UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})",
            where=f"{path}:{line}",
            hint="Re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 IN > OUT`.",
        ) from err


def _read_delimited(path: Path, delimiter: str) -> tuple[list[str], Iterator[tuple[dict[str, Any], str]]]:
    text = _read_text(path)
    if not text.strip():
        return [], iter(())
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = next(reader)
        table = [(row, reader.line_num) for row in reader]
    except csv.Error as err:
        raise DataError(
            f"unreadable {'TSV' if delimiter == chr(9) else 'CSV'}: {err}",
            where=str(path),
            hint="Check the quoting around that line.",
        ) from err
    header = [h.strip() for h in header]
    if len(header) == 1 and delimiter == "," and "\t" in header[0]:
        raise DataError("this looks like tab-separated data", where=str(path), hint="Set `format: tsv`.")

    def rows() -> Iterator[tuple[dict[str, Any], str]]:
        for row, line in table:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise DataError(
                    f"row has {len(row)} cells but the header has {len(header)} columns",
                    where=f"{path}:{line}",
                    hint="Quote cells that contain the delimiter.",
                )
            yield dict(zip(header, row)), f"{path}:{line}"

    return header, rows()


def _read_csv(path: Path):
    return _read_delimited(path, ",")


def _read_tsv(path: Path):
    return _read_delimited(path, "\t")


def _read_jsonl(path: Path) -> tuple[list[str], Iterator[tuple[dict[str, Any], str]]]:
    text = _read_text(path)
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array file rather than JSON lines
        items = parse_json_text(text, source=str(path), error=DataError, hint="Fix the JSON at that line.")
        rows = [(item, f"{path}:item {i}") for i, item in enumerate(items)]
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            hint = "Each line must hold one JSON object."
            rows.append((parse_json_field(line, field=f"line {number}", where=where, hint=hint), where))
    for row, origin in rows:
        if not isinstance(row, dict):
            raise DataError(
                f"expected a JSON object, got {type(row).__name__}",
                where=origin,
                hint="Each line must hold one {...} object.",
            )
    columns = list(dict.fromkeys(key for row, _ in rows[:100] for key in row))
    return columns, iter(rows)


def _read_parquet(path: Path) -> tuple[list[str], Iterator[tuple[dict[str, Any], str]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several unrelated types for a damaged file
        raise DataError(
            f"unreadable Parquet file: {err}", where=str(path), hint="Check the file was written completely."
        ) from err
    rows = ((row, f"{path}:row {i + 1}") for i, row in enumerate(table.to_pylist()))
    return (table.column_names if table.num_rows else []), rows


def _read_saved_dataset(path: Path) -> tuple[list[str], Iterator[tuple[dict[str, Any], str]]]:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as err:
        raise DataError(
            f"unreadable saved dataset: {err}", where=str(path), hint="Save it again with `dataset.save_to_disk(DIR)`."
        ) from err
    if isinstance(loaded, datasets.DatasetDict):
        if "train" not in loaded:
            raise DataError(
                f"the saved DatasetDict has no `train` split (splits: {', '.join(loaded)})",
                where=str(path),
                hint="Save the split to train on as `train`.",
            )
        loaded = loaded["train"]
    rows = ((row, f"{path}:row {i + 1}") for i, row in enumerate(loaded))
    return (list(loaded.column_names) if len(loaded) else []), rows


_TABLE_READERS = {
    "csv": _read_csv,
    "tsv": _read_tsv,
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
    "hf_disk": _read_saved_dataset,
}
