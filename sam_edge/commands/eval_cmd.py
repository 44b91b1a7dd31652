"""``sam-edge eval``: mIoU of a model on the held-out benchmark for point, box and correction-click prompts,
the IoU head's calibration (Spearman's rho of predicted vs actual IoU over those predictions) and
segment-everything recall on the first ``--everything-images`` scenes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sam_edge.commands.argument_types import add_backend_option, add_model_option, add_threads_option, positive_int
from sam_edge.commands.progress import ProgressBar

PROMPT_KINDS = (
    "point",
    "box",
    "clicks",
)  # == sam_edge.bench.accuracy.PROMPT_KINDS (kept here so --help imports nothing)
EVERYTHING_IMAGES = 20  # == sam_edge.bench.everything_recall.DEFAULT_EVERYTHING_IMAGES


def parse_prompts(text: str) -> tuple[str, ...]:
    """'point,box,clicks' (any non-empty subset, any order) -> the kinds in canonical order."""
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [kind for kind in kinds if kind not in PROMPT_KINDS]
    if unknown or not kinds:
        got = f"unknown prompt kind(s) {', '.join(map(repr, unknown))}" if unknown else "no prompt kind given"
        raise argparse.ArgumentTypeError(f"{got}; accepted: {', '.join(PROMPT_KINDS)} (comma-separated)")
    return tuple(kind for kind in PROMPT_KINDS if kind in kinds)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (0 turns the step off)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; got {text!r}")
    return value


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score a model on the held-out benchmark (mIoU)",
        description="mIoU on the held-out benchmark (300 generated scenes): 1 point (top-scored and best of 3), "
        "1 box, and 1 point + N correction clicks (sam_edge.bench.accuracy); the IoU head's calibration over "
        "those predictions (sam_edge.bench.calibration); segment-everything recall on the first scenes "
        "(sam_edge.bench.everything_recall).",
    )
    add_model_option(parser)
    parser.add_argument(
        "--prompts",
        type=parse_prompts,
        default=PROMPT_KINDS,
        metavar="KINDS",
        help=f"comma-separated subset of {','.join(PROMPT_KINDS)} (default: all)",
    )
    parser.add_argument(
        "--limit", type=positive_int, metavar="N", help="evaluate only the first N images (default: all 300)"
    )
    parser.add_argument(
        "--clicks",
        type=positive_int,
        default=4,
        metavar="N",
        help="correction clicks after the first point (default: 4)",
    )
    parser.add_argument(
        "--everything-images",
        type=non_negative_int,
        default=EVERYTHING_IMAGES,
        metavar="N",
        help="run the automatic mask generator (official defaults) on the first N eval images and report "
        f"the recall of ground-truth objects; 1024 prompts per image (default: {EVERYTHING_IMAGES}; 0 skips it)",
    )
    parser.add_argument(
        "--everything-points-per-side",
        type=positive_int,
        default=32,
        metavar="N",
        help="the generator's grid of N x N points (default: 32, the official one the target is stated for)",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="write report.json, report.md and examples.png here")
    add_backend_option(parser)
    add_threads_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sam_edge.bench.accuracy import EvalSettings, evaluate
    from sam_edge.bench.eval_report import describe_predictor, markdown_table, write_report
    from sam_edge.runtime.amg_settings import AmgSettings
    from sam_edge.runtime.atomic_write import check_output_dir
    from sam_edge.runtime.default_model import resolve_model_dir
    from sam_edge.runtime.predictor import SamPredictor

    settings = EvalSettings(prompts=args.prompts, limit=args.limit, clicks=args.clicks)
    AmgSettings(points_per_side=args.everything_points_per_side)  # a bad grid: one line now, not after the eval
    if args.out is not None:
        check_output_dir(args.out)  # fail before minutes of work, not after
    predictor = SamPredictor(
        resolve_model_dir(args.model), backend=args.backend, threads=args.threads, cache_size=0
    )  # each benchmark image is encoded once
    model_id = predictor.metadata.model_id
    print(f"evaluating {model_id} ({predictor.decoder.path.parent}) on the held-out benchmark", file=sys.stderr)
    report = evaluate(predictor, settings, model_id, progress=print_progress)
    report.everything = run_everything(predictor, args)
    print(markdown_table(report), end="")
    if args.out is not None:
        for path in write_report(report, args.out, describe_predictor(predictor)):
            print(f"wrote {path}")
    return 0


def run_everything(predictor, args: argparse.Namespace):
    """Segment-everything recall on the first min(--everything-images, eval images) scenes; None when 0."""
    from sam_edge.bench.everything_recall import evaluate_everything
    from sam_edge.scenes import HeldOutBenchmark

    images = min(args.everything_images, len(HeldOutBenchmark(args.limit)))
    if images == 0:
        return None
    side = args.everything_points_per_side
    print(f"segment everything on {images} image{'s' * (images != 1)}, {side * side} prompts each", file=sys.stderr)
    with ProgressBar(label="segmenting everything", unit="prompts", min_interval_s=0.5) as bar:
        return evaluate_everything(predictor, HeldOutBenchmark(images), side, progress=bar)


def print_progress(report, total: int) -> None:
    """One stderr line per image: images done, seconds per image, running mIoU of the headline metrics."""
    miou = report.miou()
    shown = [name for name in ("point", "point_oracle", "box") if name in miou]
    shown += [name for name in miou if name.startswith("clicks_")][-1:]
    numbers = "  ".join(f"{name} {miou[name]:.3f}" for name in shown)
    seconds = sum(report.timings["total_s"]) / max(1, report.images)
    print(
        f"[{report.images}/{total}] {report.instances} instances, {seconds:.2f} s/image  {numbers}",
        file=sys.stderr,
        flush=True,
    )
