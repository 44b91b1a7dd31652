"""Rows of a manifest (.jsonl / .csv / .parquet) and of a ``--prompts`` file, read without judging the images.

A row gives ``path`` (a string) and optionally the prompt fields ``points``, ``boxes``, ``prompts``
(JSON values; in a CSV cell or a parquet string column they are JSON text, batch/prompt_spec.py checks
them later). A file with no ``path`` column at all is refused in one line; a single row that cannot be
read (bad JSON, not an object, an empty path, a CSV row with the wrong number of fields) comes back
with ``error`` set, so the job records it as failed and goes on.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from sam_edge.runtime.errors import InputFileError, InvalidInputError

PROMPT_FIELDS = ("points", "boxes", "prompts")


@dataclass(frozen=True)
class ManifestRow:
    """``label`` names the row ("list.jsonl line 3"; the path column of a row that fails); ``path`` as
    written (None when the row is unreadable, with ``error`` saying why)."""

    label: str
    path: str | None
    prompts: dict | None = None
    error: str | None = None


def read_manifest_rows(manifest: Path) -> list[ManifestRow]:
    """Every row of ``manifest`` (suffix .jsonl, .csv or .parquet), in file order."""
    readers = {".jsonl": _jsonl_records, ".csv": _csv_records, ".parquet": _parquet_records}
    records = readers[manifest.suffix.lower()](manifest)
    if records and not any(isinstance(value, dict) and "path" in value for _, value in records):
        columns = sorted({key for _, value in records if isinstance(value, dict) for key in value})
        raise InvalidInputError(
            f"manifest {manifest} has no path column (columns: {', '.join(columns) or 'none'}); "
            "give each row's image path in a column named path"
        )
    return [_row(label, value) for label, value in records]


def read_prompts_file(path: Path) -> dict[str, dict]:
    """``--prompts FILE``: path key -> its prompt fields (a .json object, or a manifest with a path column)."""
    if not path.is_file():
        raise InputFileError(f"--prompts {path} is not a file; give a .json object keyed by path, or a manifest")
    if path.suffix.lower() == ".json":
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidInputError(f"--prompts {path} is not valid JSON ({error})") from None
        if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
            raise InvalidInputError(
                f'--prompts {path} must be a JSON object of path -> {{"points": ..., "boxes": ...}}'
            )
        return entries
    if path.suffix.lower() not in (".jsonl", ".csv", ".parquet"):
        raise InvalidInputError(f"--prompts {path}: expected a .json, .jsonl, .csv or .parquet file")
    rows = read_manifest_rows(path)
    return {row.path: row.prompts or {} for row in rows if row.error is None}


def _row(label: str, value) -> ManifestRow:
    if isinstance(value, str):  # a reader's own error for this row
        return ManifestRow(label, None, error=value)
    if not isinstance(value, dict):
        return ManifestRow(label, None, error=f"expected an object with a path; got {type(value).__name__}")
    path = value.get("path")
    if not isinstance(path, str) or not path.strip():
        return ManifestRow(label, None, error=f"path must be a non-empty string; got {path!r}")
    prompts = {key: value[key] for key in PROMPT_FIELDS if value.get(key) not in (None, "")}
    return ManifestRow(label, path, prompts or None)


def _jsonl_records(manifest: Path) -> list[tuple[str, object]]:
    """(label, decoded object or error text) per non-blank line."""
    records = []
    for number, raw in enumerate(_read_bytes(manifest).splitlines(), start=1):
        if not raw.strip():
            continue
        label = f"{manifest} line {number}"
        try:
            records.append((label, json.loads(raw.decode("utf-8"))))
        except UnicodeDecodeError:
            records.append((label, "not UTF-8 text"))
        except json.JSONDecodeError as error:
            records.append((label, f"not valid JSON ({error.msg} at column {error.colno})"))
    return records


def _csv_records(manifest: Path) -> list[tuple[str, object]]:
    # Undecodable bytes become U+FFFD: that row's path then fails to open, the others are unaffected.
    text = _read_bytes(manifest).decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return []
    records = []
    try:
        for cells in reader:
            label = f"{manifest} row {reader.line_num}"
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                records.append((label, f"{len(cells)} fields where the header has {len(header)}"))
                continue
            records.append((label, {key: _json_cell(key, cell) for key, cell in zip(header, cells)}))
    except csv.Error as error:
        records.append((f"{manifest} row {reader.line_num}", f"unreadable CSV ({error}); later rows skipped"))
    return records


def _json_cell(key: str, cell: str):
    """A CSV cell: the prompt fields hold JSON text (kept as text when it does not parse: checked later)."""
    if key not in PROMPT_FIELDS or not cell.strip():
        return cell
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        return cell


def _parquet_records(manifest: Path) -> list[tuple[str, object]]:
    from sam_edge.batch.results import require_pyarrow

    parquet = require_pyarrow()
    try:
        table = parquet.read_table(manifest)
    except Exception as error:  # pyarrow's ArrowInvalid, OSError: any of them means the file is unusable
        raise InvalidInputError(f"manifest {manifest} is not a readable parquet file ({_first_line(error)})") from None
    return [(f"{manifest} row {n}", row) for n, row in enumerate(table.to_pylist(), start=1)]


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputFileError(f"cannot read manifest {path}: {error.strerror or error}") from None


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]
