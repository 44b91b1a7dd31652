"""Where a batch item's output goes, and the marker that says it is complete and for which input.

Per item ``OUT/<name><suffix>`` (``name`` is the input's path relative to the input root, so
``cats/1.jpg`` -> ``OUT/cats/1.jpg.npz``) and beside it ``<output>.done.json``:
``{"source": path, "sha256": hex, "job": hex}``, written atomically *after* the output. ``job`` is a
hash of what else decides the output (task, model id, settings, the item's prompts). An item is
skipped only when both its output and a marker with the same ``sha256`` and ``job`` exist; the marker
is removed before an output is rewritten, so an output is never taken for another input's.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from sam_edge.runtime.atomic_write import atomic_output

TASK_SUFFIXES = {"embed": ".npz", "everything": ".everything.json", "prompts": ".prompts.json"}
DONE_SUFFIX = ".done.json"
_HASH_CHUNK = 1 << 20


def output_path(out_dir: str | os.PathLike, name: str, task: str) -> Path:
    return Path(out_dir) / f"{name}{TASK_SUFFIXES[task]}"


def done_path(output: Path) -> Path:
    return output.with_name(output.name + DONE_SUFFIX)


def file_sha256(path: str) -> str:
    """Hex sha256 of the file's bytes, read in 1 MiB chunks (raises OSError)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def job_key(task: str, model_id: str, settings: dict, prompts: dict | None) -> str:
    """Hex hash of everything besides the image that decides an item's output."""
    text = json.dumps({"task": task, "model_id": model_id, "settings": settings, "prompts": prompts}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def is_done(output: Path, sha256: str, job: str) -> bool:
    """Whether ``output`` exists and its marker names this input content and job."""
    marker = done_path(output)
    if not output.is_file() or not marker.is_file():
        return False
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(record, dict) and record.get("sha256") == sha256 and record.get("job") == job


def forget_done(output: Path) -> None:
    """Remove the marker before ``output`` is rewritten (a kill in between then leaves no false marker)."""
    done_path(output).unlink(missing_ok=True)


def mark_done(output: Path, source: str, sha256: str, job: str) -> None:
    with atomic_output(done_path(output), suffix=".json") as temp:
        temp.write_text(json.dumps({"source": source, "sha256": sha256, "job": job}))


def remove_stale_partials(out_dir: Path, names: list[str], task: str) -> int:
    """Delete the ``.<file>.*.partial*`` files that a killed run's atomic writes left (returns how many).

    Only in the folders this job writes into, and only partials of this job's outputs and markers.
    """
    wanted: dict[Path, set[str]] = {}
    for name in names:
        output = output_path(out_dir, name, task)
        wanted.setdefault(output.parent, set()).update((output.name, done_path(output).name))
    removed = 0
    for folder, files in wanted.items():
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if entry.name.startswith(".") and ".partial" in entry.name and _partial_of(entry.name) in files:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
    return removed


def _partial_of(partial_name: str) -> str:
    """``.a.png.npz.k2j3.partial.npz`` -> ``a.png.npz`` (atomic_output's mkstemp prefix is ``.<name>.``)."""
    stem = partial_name[1:].split(".partial", 1)[0]
    return stem.rsplit(".", 1)[0]
