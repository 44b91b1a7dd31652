"""``sam-edge everything IMAGE``: segment everything (SAM's automatic mask generator), as SAM's scripts/amg.py.

``--json`` writes the records with COCO RLE segmentations (amg.py ``--convert-to-rle``), ``--masks-dir``
amg.py's folder of ``<i>.png`` masks + ``metadata.csv``, ``--overlay`` every mask tinted over the image.
Every setting is checked before the model loads; nothing is written unless the whole run succeeds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sam_edge.commands.argument_types import (
    add_backend_option,
    add_max_pixels_option,
    add_model_option,
    add_threads_option,
)
from sam_edge.commands.progress import ProgressBar

# (flag, type, official default, metavar, help)
SETTINGS = (
    ("--points-per-side", int, 32, "N", "grid of N x N point prompts (at most 64 x 64)"),
    ("--points-per-batch", int, 64, "N", "prompts per decoder call"),
    ("--pred-iou-thresh", float, 0.88, "F", "drop masks whose predicted IoU is not above F (0..1; 0 = keep all)"),
    ("--stability-score-thresh", float, 0.95, "F", "drop masks whose stability score is below F (0..1; 0 = keep all)"),
    ("--stability-score-offset", float, 1.0, "F", "logit offset of the stability score"),
    ("--box-nms-thresh", float, 0.7, "F", "box IoU above which a lower-scored duplicate is dropped (0..1)"),
    ("--crop-n-layers", int, 0, "N", "also prompt on N layers of crops (layer i: (2**i)**2 crops)"),
    ("--crop-nms-thresh", float, 0.7, "F", "box IoU for duplicates across crops (0..1)"),
    ("--crop-overlap-ratio", float, 512 / 1500, "F", "overlap of the first crop layer, as a share of the short side"),
    ("--crop-n-points-downscale-factor", int, 1, "N", "crop layer i gets points-per-side / N**i points per side"),
    ("--min-mask-region-area", int, 0, "N", "remove holes and islands smaller than N pixels (needs scipy)"),
)
METADATA_HEADER = (
    "id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,"
    "stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h"
)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "everything",
        help="segment everything in an image (automatic mask generator)",
        description="Masks for everything in IMAGE from a grid of point prompts, "
        "with segment_anything's SamAutomaticMaskGenerator settings.",
    )
    parser.add_argument("image", help="image file (PNG, JPEG, ...)")
    add_model_option(parser)
    group = parser.add_argument_group("generator settings (segment_anything's defaults)")
    for flag, kind, default, metavar, help_text in SETTINGS:
        group.add_argument(
            flag, type=kind, default=default, metavar=metavar, help=f"{help_text} (default: {default:g})"
        )
    parser.add_argument(
        "--json", type=Path, metavar="OUT.json", help="the records with COCO RLE masks (amg.py --convert-to-rle)"
    )
    parser.add_argument(
        "--masks-dir",
        type=Path,
        metavar="DIR",
        help="<i>.png masks + metadata.csv (amg.py's folder); DIR must be new or empty",
    )
    parser.add_argument("--overlay", type=Path, metavar="OUT.png", help="every mask in its own colour over the image")
    add_backend_option(parser)
    add_threads_option(parser)
    add_max_pixels_option(parser)
    parser.set_defaults(run=run)


def generator_kwargs(args: argparse.Namespace) -> dict:
    """The SamAutomaticMaskGenerator keyword arguments the flags name."""
    return {flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_")) for flag, *_ in SETTINGS}


def run(args: argparse.Namespace) -> int:
    from sam_edge.commands.everything_outputs import check_outputs, write_outputs
    from sam_edge.commands.image_input import read_image
    from sam_edge.runtime.amg_settings import AmgSettings
    from sam_edge.runtime.automatic_mask_generator import SamAutomaticMaskGenerator
    from sam_edge.runtime.default_model import resolve_model_dir
    from sam_edge.runtime.predictor import SamPredictor

    kwargs = generator_kwargs(args)
    AmgSettings(**kwargs, output_mode="coco_rle")  # bad settings: one line, before the model loads
    check_outputs(args)
    max_pixels = args.max_pixels
    rgb = read_image(args.image, max_pixels)
    predictor = SamPredictor(
        resolve_model_dir(args.model), backend=args.backend, threads=args.threads, max_pixels=max_pixels, cache_size=0
    )
    generator = SamAutomaticMaskGenerator(predictor, **kwargs, output_mode="coco_rle")
    started = time.perf_counter()
    records = generator.generate(rgb, progress=ProgressBar())
    seconds = time.perf_counter() - started
    print(f"model {predictor.metadata.model_id} ({predictor.decoder.path.parent}), {predictor.decoder.layout} decoder")
    summary = generator.last_counts.summary()
    print(f"image {rgb.shape[1]}x{rgb.shape[0]}: {len(records)} masks in {seconds:.1f} s ({summary})")
    if not records:
        print(f"no mask survived the filters: {generator.last_counts.summary()}")
    write_outputs(args, rgb, records)
    return 0
