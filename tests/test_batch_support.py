"""Shared helpers of the ``sam-edge batch`` tests (no tests here): small image folders and output readers.

Images are generated scenes (sam_edge.scenes) of 130-160 px; the encoder's input is 1024 x 1024 whatever
the size, so each costs one full encode (~0.3 s on one thread of this 2-core machine).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from sam_edge.runtime.embedding import ImageEmbedding

BIG_SIDE = 260  # above MAX_PIXELS: the oversized image of a folder
MAX_PIXELS = 40_000


def scene_rgb(seed: int) -> np.ndarray:
    """HxWx3 uint8 of generated scene ``seed`` (at most 160 px a side)."""
    from sam_edge.scenes import SceneConfig, generate_scene

    return generate_scene(seed, SceneConfig(long_side=(130, 160))).image


def write_folder(folder: Path, good: int, corrupt: bool = True, oversized: bool = True, start_seed: int = 0) -> dict:
    """``good`` PNG scenes (every other one in ``sub/``), a truncated PNG and a 260 x 260 one; returns
    {"good": [paths], "corrupt": path | None, "oversized": path | None}."""
    paths = []
    for index in range(good):
        path = folder / ("sub" if index % 2 else "") / f"scene{index:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(scene_rgb(start_seed + index)).save(path)
        paths.append(path)
    corrupt_path = oversized_path = None
    if corrupt:
        corrupt_path = folder / "corrupt.png"
        whole = paths[0].read_bytes()
        corrupt_path.write_bytes(whole[: len(whole) // 2])
    if oversized:
        oversized_path = folder / "big.png"
        Image.fromarray(np.full((BIG_SIDE, BIG_SIDE, 3), 90, np.uint8)).save(oversized_path)
    (folder / "notes.txt").write_text("not an image: batch skips it")
    return {"good": sorted(paths), "corrupt": corrupt_path, "oversized": oversized_path}


def output_files(out: Path) -> dict[str, Path]:
    """Output files under ``out`` (not markers, not the manifest), by path relative to ``out``."""
    files = {}
    for path in out.rglob("*"):
        if path.is_file() and not path.name.endswith(".done.json") and path.name != "results.parquet":
            files[path.relative_to(out).as_posix()] = path
    return files


def embedding_arrays(path: Path) -> tuple:
    """What an embedding file holds, comparable with ==: (embeddings bytes, sizes, model id and type)."""
    embedding = ImageEmbedding.load(path)
    return (
        embedding.embeddings.tobytes(),
        embedding.original_size,
        embedding.input_size,
        embedding.model_id,
        embedding.model_type,
    )


def same_outputs(first: Path, second: Path) -> bool:
    """Whether two output trees hold the same files with the same content (npz arrays, JSON bytes)."""
    a, b = output_files(first), output_files(second)
    if sorted(a) != sorted(b):
        return False
    for name in a:
        if name.endswith(".npz"):
            if embedding_arrays(a[name]) != embedding_arrays(b[name]):
                return False
        elif a[name].read_bytes() != b[name].read_bytes():
            return False
    return True


def manifest_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as parquet

    return parquet.read_table(out / "results.parquet").to_pylist()


def done_record(output: Path) -> dict:
    return json.loads(output.with_name(output.name + ".done.json").read_text())
