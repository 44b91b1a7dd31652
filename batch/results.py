"""The results manifest of a batch job: one parquet row per image, rewritten atomically as rows come in.

Columns (``RESULT_COLUMNS``): ``path`` (the input, absolute), ``sha256`` (of the file's bytes; null when
it could not be read), ``status`` ``ok`` | ``skipped`` | ``failed``, ``error`` (one line, null unless
failed), ``encode_ms`` (encoder wall time; null when not run), ``total_ms`` (the item's whole time in its
worker), ``output`` (the output file, null unless ok or skipped), ``worker`` (``host:pid``).
Rows are in input order. The file is replaced atomically (runtime/atomic_write.py) at the end and every
so often while the job runs, so a killed job leaves a complete manifest of what it had finished.
"""

from __future__ import annotations

import time
from pathlib import Path

from sam_edge.runtime.atomic_write import atomic_output
from sam_edge.runtime.errors import SamEdgeError

RESULTS_NAME = "results.parquet"
RESULT_COLUMNS = ("path", "sha256", "status", "error", "encode_ms", "total_ms", "output", "worker")
STATUSES = ("ok", "skipped", "failed")
# Rewrite at most every FLUSH_SECONDS, and never spend more than 1/FLUSH_SHARE of the time writing:
# at 11 M rows one rewrite takes seconds.
FLUSH_SECONDS = 10.0
FLUSH_SHARE = 10.0


class MissingPackageError(SamEdgeError, ImportError):
    """An optional package a batch engine or file format needs is not installed."""


def require_pyarrow():
    """``pyarrow.parquet``, or a one-line error naming the extra that installs it."""
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise MissingPackageError(
            "sam-edge batch reads and writes parquet with pyarrow, which is not installed: "
            'pip install "sam-edge[batch]"'
        ) from None
    return parquet


def results_schema():
    import pyarrow as pa

    kinds = {"encode_ms": pa.float64(), "total_ms": pa.float64()}
    return pa.schema([(name, kinds.get(name, pa.string())) for name in RESULT_COLUMNS])


def failed_row(index: int, path: str, error: str, worker: str = "", sha256: str | None = None) -> dict:
    """The row of an item that failed before or outside a worker's processing."""
    return {
        "index": index,
        "path": path,
        "sha256": sha256,
        "status": "failed",
        "error": one_line(error),
        "encode_ms": None,
        "total_ms": 0.0,
        "output": None,
        "worker": worker,
    }


def one_line(text: str, limit: int = 400) -> str:
    """``text`` as one line of at most ``limit`` characters (messages go into a table cell and a log line)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class ResultsManifest:
    """Collects status rows (dicts with ``index`` + RESULT_COLUMNS) and keeps ``path`` up to date."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows: list[dict] = []
        self.counts = dict.fromkeys(STATUSES, 0)
        self._last_flush = time.monotonic()
        self._flush_seconds = 0.0

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.counts[row["status"]] += 1
        since = time.monotonic() - self._last_flush
        if since >= max(FLUSH_SECONDS, FLUSH_SHARE * self._flush_seconds):
            self.write()

    def write(self) -> Path:
        """Replace the parquet file atomically with every row so far, in input order."""
        import pyarrow as pa

        parquet = require_pyarrow()
        started = time.monotonic()
        ordered = sorted(self.rows, key=lambda row: row["index"])
        columns = {name: [row[name] for row in ordered] for name in RESULT_COLUMNS}
        table = pa.table(columns, schema=results_schema())
        with atomic_output(self.path, suffix=".parquet") as temp:
            parquet.write_table(table, temp)
        self._last_flush = time.monotonic()
        self._flush_seconds = self._last_flush - started
        return self.path
