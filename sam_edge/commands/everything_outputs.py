"""What ``sam-edge everything`` writes, each file atomically: JSON records, amg.py's masks folder, an overlay.

Records come in with COCO RLE segmentations (``output_mode="coco_rle"``); masks are decoded one at a
time for the PNGs and the overlay, so a large image with hundreds of masks never holds them all.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from sam_edge.commands.everything_cmd import METADATA_HEADER
from sam_edge.runtime.atomic_write import atomic_output, check_output_dir, prepare_output_dir, staging_dir
from sam_edge.runtime.errors import OutputPathError
from sam_edge.runtime.mask_stats import decode_rle


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse unusable output paths before the model runs (one line each)."""
    for option in ("json", "overlay"):
        path = getattr(args, option)
        if path is not None and path.is_dir():
            raise OutputPathError(f"--{option} {path} is a directory; expected the path of a file to write")
    if args.masks_dir is not None:
        check_output_dir(args.masks_dir)
        if args.masks_dir.is_dir() and any(args.masks_dir.iterdir()):
            raise OutputPathError(
                f"--masks-dir {args.masks_dir} is not empty; give a new or empty directory "
                "(amg.py refuses an existing one too)"
            )


def write_outputs(args: argparse.Namespace, rgb: np.ndarray, records: list[dict]) -> None:
    if args.json:
        with atomic_output(args.json, suffix=".json") as temp:
            temp.write_text(json.dumps(records))  # as amg.py's json.dump(masks, f)
        print(f"wrote {args.json}")
    if args.masks_dir:
        write_masks_dir(args.masks_dir, records)
        print(f"wrote {args.masks_dir} ({len(records)} masks + metadata.csv)")
    if args.overlay:
        from sam_edge.runtime.overlay import render_masks_overlay

        largest_first = sorted(records, key=lambda record: -record["area"])
        masks = (decode_rle(record["segmentation"]) for record in largest_first)
        with atomic_output(args.overlay, suffix=".png") as temp:
            render_masks_overlay(rgb, masks).save(temp, format="PNG")
        print(f"wrote {args.overlay}")


def metadata_row(index: int, record: dict) -> str:
    """One line of amg.py's metadata.csv (its str() of every value)."""
    values = [
        index,
        record["area"],
        *record["bbox"],
        *record["point_coords"][0],
        record["predicted_iou"],
        record["stability_score"],
        *record["crop_box"],
    ]
    return ",".join(str(value) for value in values)


def write_masks_dir(directory: Path, records: list[dict]) -> None:
    """``<i>.png`` (0/255, 8-bit grey) per mask and metadata.csv, staged beside ``directory`` and renamed into place."""
    from PIL import Image

    parent = prepare_output_dir(directory.absolute().parent)
    with staging_dir(parent, directory.name) as staging:
        for index, record in enumerate(records):
            mask = decode_rle(record["segmentation"])
            Image.fromarray(mask.astype(np.uint8) * 255).save(staging / f"{index}.png", format="PNG")
        lines = [METADATA_HEADER] + [metadata_row(i, record) for i, record in enumerate(records)]
        (staging / "metadata.csv").write_text("\n".join(lines))
        os.chmod(staging, 0o777 & ~_umask())
        if directory.is_dir():
            directory.rmdir()  # checked empty before the run
        os.replace(staging, directory)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
