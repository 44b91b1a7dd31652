"""``sam-edge batch INPUT --out DIR``: one task over a folder, a glob or a manifest of images (sam_edge.batch).

Prints a progress line on stderr (done/total, rate, ETA) and a summary; the per-image record is
``DIR/results.parquet``. Exit status 0 when every image is ok or skipped, 1 when some failed (each
with its reason in the manifest, the first few printed), 2 for bad input that stops the whole job.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sam_edge.commands.argument_types import (
    add_backend_option,
    add_max_pixels_option,
    add_model_option,
    positive_int,
)
from sam_edge.commands.everything_cmd import SETTINGS, generator_kwargs
from sam_edge.commands.progress import ProgressBar, format_duration

FAILURES_SHOWN = 5


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="run one task over many images (a folder, a glob or a manifest), resumable, local or on Ray",
        description="Embeddings, segment-everything records or prompt masks for every image of INPUT, written "
        "under --out with a results.parquet manifest. Re-running skips images whose output is complete.",
    )
    parser.add_argument(
        "input", help='a folder (recursive), a quoted glob ("imgs/**/*.jpg") or a manifest (.jsonl, .csv, .parquet)'
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory (created if needed)")
    parser.add_argument(
        "--task",
        choices=("embed", "everything", "prompts"),
        default="embed",
        help="embed: <name>.npz embeddings; everything: <name>.everything.json records; "
        "prompts: <name>.prompts.json masks of each image's prompts (default: embed)",
    )
    parser.add_argument(
        "--prompts", metavar="FILE", help="prompts keyed by path (.json object, or a manifest) for --task prompts"
    )
    parser.add_argument("--multimask", action="store_true", help="--task prompts: 3 masks per prompt instead of 1")
    add_model_option(parser)
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="process pool or Ray Data")
    parser.add_argument("--workers", type=positive_int, metavar="N", help="predictor processes or actors")
    parser.add_argument(
        "--threads-per-worker", type=positive_int, metavar="N", help="CPU threads of each worker (default: 1)"
    )
    parser.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (default: start Ray here)")
    group = parser.add_argument_group("--task everything settings (segment_anything's defaults)")
    for flag, kind, default, metavar, help_text in SETTINGS:
        group.add_argument(
            flag, type=kind, default=default, metavar=metavar, help=f"{help_text} (default: {default:g})"
        )
    add_backend_option(parser)
    add_max_pixels_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sam_edge.batch import BatchJob, run_batch

    settings = _task_settings(args)
    job = BatchJob(
        args.input,
        args.out,
        task=args.task,
        prompts_file=args.prompts,
        model=None if args.model is None else str(args.model),
        engine=args.engine,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        ray_address=args.ray_address,
        backend=args.backend,
        max_pixels=args.max_pixels,
        settings=settings,
    )
    summary = run_batch(
        job, progress=RateProgress(ProgressBar(label=f"batch {args.task}", unit="images", min_interval_s=0.1))
    )
    counts = summary.counts
    pool = f"{summary.workers} workers x {summary.threads_per_worker} threads"
    print(
        f"{counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed of {sum(counts.values())} images "
        f"in {summary.seconds:.1f} s ({args.engine}: {pool})"
    )
    if counts["failed"]:
        _print_failures(summary.manifest)
    print(f"wrote {summary.manifest}")
    return 1 if counts["failed"] else 0


def _task_settings(args: argparse.Namespace) -> dict:
    """What besides the image decides an output (part of each output's completion marker)."""
    if args.task == "everything":
        from sam_edge.runtime.amg_settings import AmgSettings

        kwargs = generator_kwargs(args)
        AmgSettings(**kwargs, output_mode="coco_rle")  # bad settings: one line, before anything runs
        if kwargs["min_mask_region_area"] > 0:
            from sam_edge.runtime.small_regions import require_scipy

            require_scipy()  # here, not in each worker as it loads
        return kwargs
    if args.task == "prompts":
        return {"multimask": bool(args.multimask)}
    return {}


def _print_failures(manifest: Path) -> None:
    import pyarrow.parquet as parquet

    rows = parquet.read_table(manifest, columns=["path", "status", "error"]).to_pylist()
    failed = [row for row in rows if row["status"] == "failed"]
    for row in failed[:FAILURES_SHOWN]:
        print(f"failed: {row['path']}: {row['error']}")
    if len(failed) > FAILURES_SHOWN:
        print(f"... and {len(failed) - FAILURES_SHOWN} more failed (status and error in {manifest})")


class RateProgress:
    """Adds the rate (images/s since the start) and the ETA to a ProgressBar's counted line."""

    def __init__(self, bar: ProgressBar) -> None:
        self.bar, self.unit, self.started = bar, bar.unit, time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = format_duration((total - done) / rate) if rate > 0 else "-:--"
        self.bar.unit = f"{self.unit}  {rate:.2f}/s  ETA {eta}"
        self.bar(done, total)
