"""``sam-edge segment IMAGE --point X,Y``: masks for one prompt, written as PNG / overlay / JSON."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sam_edge.commands.argument_types import (
    add_backend_option,
    add_max_pixels_option,
    add_model_option,
    add_threads_option,
)
from sam_edge.runtime.errors import InvalidInputError, OutputPathError


def parse_point(text: str) -> tuple[float, float, int]:
    """'X,Y' or 'X,Y,LABEL' (label 1 foreground, default; 0 background)."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or (len(values) == 3 and values[2] not in (0, 1)):
        raise argparse.ArgumentTypeError(
            f"expected X,Y or X,Y,LABEL with LABEL 1 (foreground) or 0 (background); got {text!r}"
        )
    return values[0], values[1], int(values[2]) if len(values) == 3 else 1


def parse_box(text: str) -> tuple[float, float, float, float]:
    """'X0,Y0,X1,Y1' in original image pixels."""
    try:
        values = tuple(float(p) for p in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected X0,Y0,X1,Y1; got {text!r}")
    return values


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment an image from point / box prompts",
        description="Segment IMAGE from point and box prompts (original image pixels).",
    )
    parser.add_argument("image", help="image file (PNG, JPEG, ...)")
    add_model_option(parser)
    parser.add_argument(
        "--point",
        action="append",
        type=parse_point,
        default=[],
        metavar="X,Y[,LABEL]",
        help="a click; LABEL 1 = foreground (default), 0 = background; repeatable "
        "(negative coordinates, --point -5,100 or --point=-5,100, are refused as outside the image)",
    )
    parser.add_argument("--box", type=parse_box, metavar="X0,Y0,X1,Y1", help="a box prompt")
    parser.add_argument("--multimask", action="store_true", help="return 3 candidate masks instead of 1")
    parser.add_argument("--out", type=Path, metavar="MASK.png", help="write the best mask as a 0/255 PNG")
    parser.add_argument(
        "--overlay", type=Path, metavar="OVERLAY.png", help="write the image with the best mask and prompts drawn"
    )
    parser.add_argument(
        "--json", type=Path, metavar="RESULT.json", help="write scores, boxes, areas and COCO RLE of every mask"
    )
    embedding = parser.add_mutually_exclusive_group()
    embedding.add_argument("--save-embedding", type=Path, metavar="E.npz", help="also save the image embedding")
    embedding.add_argument(
        "--embedding", type=Path, metavar="E.npz", help="use a saved embedding instead of running the encoder"
    )
    add_backend_option(parser)
    add_threads_option(parser)
    add_max_pixels_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sam_edge.commands.image_input import read_image
    from sam_edge.runtime.default_model import resolve_model_dir
    from sam_edge.runtime.embedding import ImageEmbedding
    from sam_edge.runtime.predictor import SamPredictor

    if not args.point and args.box is None:
        raise InvalidInputError("no prompt: give at least one --point X,Y[,LABEL] or a --box X0,Y0,X1,Y1")
    check_output_paths(args)
    max_pixels = args.max_pixels
    rgb = read_image(args.image, max_pixels)
    check_prompts_inside(args, rgb.shape[:2])  # before seconds of model loading and encoding
    model_dir = resolve_model_dir(args.model)
    predictor = SamPredictor(
        model_dir, backend=args.backend, threads=args.threads, max_pixels=max_pixels, cache_size=0
    )  # one image per process: caching would only hold memory
    started = time.perf_counter()
    if args.embedding:
        embedding = ImageEmbedding.load(args.embedding)
        if embedding.original_size != rgb.shape[:2]:
            raise InvalidInputError(
                f"{args.embedding} was computed for a {embedding.original_size} image; {args.image} is {rgb.shape[:2]}"
            )
        predictor.set_image_embedding(embedding)
        source = f"loaded {args.embedding}"
    else:
        embedding = predictor.set_image(rgb)
        source = "encoder"
    encoder_ms = (time.perf_counter() - started) * 1e3
    if args.save_embedding:
        embedding.save(args.save_embedding)
    coords = np.array([p[:2] for p in args.point], np.float32) if args.point else None
    labels = np.array([p[2] for p in args.point], np.float32) if args.point else None
    started = time.perf_counter()
    result = predictor.predict(coords, labels, args.box, multimask_output=args.multimask)
    decoder_ms = (time.perf_counter() - started) * 1e3
    print(
        f"model {predictor.metadata.model_id} ({predictor.decoder.path.parent}), {_engines(predictor)}, "
        f"{predictor.decoder.layout} decoder"
    )
    print(
        f"image {rgb.shape[1]}x{rgb.shape[0]}: {source} {encoder_ms:.0f} ms, decoder + post-processing "
        f"{decoder_ms:.1f} ms"
    )
    best = int(np.argmax(result.scores))
    for index, (score, stability) in enumerate(zip(result.scores, result.stability_scores)):
        marker = " (best)" if index == best else ""
        print(
            f"  mask {index}: score {score:.3f}, stability {stability:.3f}, area {int(result.masks[index].sum())} "
            f"px{marker}"
        )
    write_outputs(
        args,
        rgb,
        result,
        best,
        coords,
        labels,
        {"encoder_ms": encoder_ms, "decoder_ms": decoder_ms},
        predictor.metadata.model_id,
    )
    return 0


def check_output_paths(args: argparse.Namespace) -> None:
    """Refuse output paths that are directories before any model runs (the writers would only fail at the end)."""
    for option in ("out", "overlay", "json", "save_embedding"):
        path = getattr(args, option)
        if path is not None and path.is_dir():
            flag = "--" + option.replace("_", "-")
            raise OutputPathError(f"{flag} {path} is a directory; expected the path of a file to write")


def check_prompts_inside(args: argparse.Namespace, original_size: tuple[int, int]) -> None:
    """The runtime's own prompt checks against the image size (predict checks them again)."""
    from sam_edge.runtime.prompts import check_boxes, check_points

    if args.point:
        check_points([p[:2] for p in args.point], [p[2] for p in args.point], original_size, batched=False)
    if args.box is not None:
        check_boxes(args.box, original_size, batched=False)


def write_outputs(args, rgb, result, best, coords, labels, timings, model_id) -> None:
    from PIL import Image

    from sam_edge.runtime.atomic_write import atomic_output
    from sam_edge.runtime.overlay import render_overlay
    from sam_edge.runtime.result_json import prediction_record

    if args.out:
        with atomic_output(args.out, suffix=".png") as temp:
            Image.fromarray(result.masks[best].astype(np.uint8) * 255).save(temp, format="PNG")
        print(f"wrote {args.out}")
    if args.overlay:
        with atomic_output(args.overlay, suffix=".png") as temp:
            render_overlay(rgb, result.masks[best], coords, labels, args.box).save(temp, format="PNG")
        print(f"wrote {args.overlay}")
    if args.json:
        record = prediction_record(result, str(args.image), model_id, coords, labels, args.box, timings)
        with atomic_output(args.json, suffix=".json") as temp:
            temp.write_text(json.dumps(record, indent=2))
        print(f"wrote {args.json}")


def _engines(predictor) -> str:
    """'backend X', or which engine runs which part when <model>.backends.json split them."""
    decoder = predictor.decoder.engine
    encoder = predictor.encoder.name if predictor.encoder is not None else decoder
    return f"backend {decoder}" if encoder == decoder else f"encoder on {encoder}, decoder on {decoder}"
