"""The work list of a batch job: which images, under which output name, with which prompts.

``INPUT`` is one of:

- a folder: every image file below it (recursive; names starting with "." are skipped), in sorted order;
- a glob (``"photos/**/*.jpg"``, quoted so the shell leaves it alone): every file it matches;
- a manifest, ``.jsonl`` / ``.csv`` / ``.parquet``, with a ``path`` column (relative paths are relative
  to the manifest's folder) and, for ``--task prompts``, ``points`` / ``boxes`` / ``prompts`` per row
  (batch/prompt_spec.py).

Each item's ``name`` is its path relative to the input's root (the folder, the glob's fixed prefix, or
the common folder of a manifest's paths), POSIX-style; outputs go to ``OUT/<name>.<ext>``, so two
inputs never share an output. A manifest row that cannot be read becomes an item with ``error`` set:
it is recorded as failed and the rest go on.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from sam_edge.batch.manifest_rows import ManifestRow, read_manifest_rows
from sam_edge.runtime.errors import InputFileError, InvalidInputError

MANIFEST_SUFFIXES = (".jsonl", ".csv", ".parquet")
# Raster formats Pillow decodes (its registered extensions also name write-only and vector ones: .pdf, .eps).
IMAGE_EXTENSIONS = frozenset(
    ".png .jpg .jpeg .jpe .jfif .bmp .dib .tif .tiff .webp .gif .ppm .pgm .pbm .pnm .tga .qoi .avif".split()
)


@dataclass(frozen=True)
class BatchItem:
    """One image of the job. ``path`` absolute; ``name`` relative output stem; ``prompts`` the row's raw
    prompt fields (a dict, or None); ``error`` a one-line reason when the row itself is unusable."""

    index: int
    path: str
    name: str
    prompts: dict | None = None
    error: str | None = None


def find_items(source: str | os.PathLike) -> list[BatchItem]:
    """The items of ``source`` (module docstring); raises a one-line SamEdgeError when there are none."""
    text = os.fspath(source)
    path = Path(text)
    if path.is_dir():
        return _folder_items(path)
    if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        return _manifest_items(path)
    if glob.has_magic(text):
        return _glob_items(text)
    if path.is_file():
        raise InvalidInputError(
            f"input {text} is a file but not a manifest; give a folder of images, a glob (quoted) "
            f"or a manifest ({', '.join(MANIFEST_SUFFIXES)}) with a path column"
        )
    raise InputFileError(
        f"input {text} does not exist; give a folder of images, a glob (quoted) "
        f"or a manifest ({', '.join(MANIFEST_SUFFIXES)}) with a path column"
    )


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def _folder_items(folder: Path) -> list[BatchItem]:
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # hidden folders: staging areas, caches
        files += [Path(root) / n for n in names if not n.startswith(".") and is_image_name(n)]
    if not files:
        raise InvalidInputError(
            f"input folder {folder} holds no image files; accepted extensions: {', '.join(sorted(IMAGE_EXTENSIONS))}"
        )
    return _named(sorted(files), folder.absolute())


def _glob_items(pattern: str) -> list[BatchItem]:
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not files:
        raise InvalidInputError(f"input glob {pattern} matches no file; quote it so the shell does not expand it")
    return _named(files, _glob_root(pattern))


def _glob_root(pattern: str) -> Path:
    """The folder of a glob's leading parts without wildcards (``a/b/**/*.png`` -> ``a/b``)."""
    fixed = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed).absolute() if fixed else Path.cwd()


def _named(files: list[Path], root: Path) -> list[BatchItem]:
    return [
        BatchItem(index, str(file.absolute()), file.absolute().relative_to(root).as_posix())
        for index, file in enumerate(files)
    ]


def _manifest_items(manifest: Path) -> list[BatchItem]:
    rows = read_manifest_rows(manifest)
    if not rows:
        raise InvalidInputError(f"manifest {manifest} has no rows; give one row per image with its path")
    base = manifest.absolute().parent
    resolved = [None if row.error else os.path.normpath(base / row.path) for row in rows]
    good = [path for path in resolved if path is not None]
    root = os.path.commonpath([os.path.dirname(path) for path in good]) if good else str(base)
    items, seen = [], {}
    for index, (row, path) in enumerate(zip(rows, resolved)):
        items.append(_manifest_item(index, row, path, root, seen))
    return items


def _manifest_item(index: int, row: ManifestRow, path: str | None, root: str, seen: dict) -> BatchItem:
    if path is None:
        return BatchItem(index, row.label, "", error=row.error)
    name = Path(os.path.relpath(path, root)).as_posix()
    if name in seen:
        return BatchItem(index, path, name, error=f"listed twice in the manifest ({seen[name]} and {row.label})")
    seen[name] = row.label
    return BatchItem(index, path, name, prompts=row.prompts)


def attach_prompts(items: list[BatchItem], prompts_file: str | os.PathLike) -> list[BatchItem]:
    """Give each item the prompts that ``prompts_file`` lists for its path.

    ``prompts_file``: a ``.json`` object mapping path -> {points / boxes / prompts}, or a manifest
    (.jsonl / .csv / .parquet) with a path column. A key matches an item by its absolute path (keys
    relative to the prompts file's folder) or by the item's name (its path relative to the input root).
    Prompts in the file replace a manifest row's own.
    """
    from sam_edge.batch.manifest_rows import read_prompts_file

    prompts_path = Path(prompts_file)
    entries = read_prompts_file(prompts_path)
    base = prompts_path.absolute().parent
    by_path = {os.path.normpath(base / key): value for key, value in entries.items()}
    attached = []
    for item in items:
        found = by_path.get(item.path, entries.get(item.name))
        attached.append(item if found is None or item.error else _with_prompts(item, found))
    return attached


def _with_prompts(item: BatchItem, prompts: dict) -> BatchItem:
    return BatchItem(item.index, item.path, item.name, prompts=prompts)
