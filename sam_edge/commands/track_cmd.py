"""``sam-edge track VIDEO --point X,Y --out DIR``: one mask carried through a video (masks.json + overlay.mp4).

Needs the ``video`` extra (PyAV). Every check that can fail (prompt, output directory, the video's
header, the prompt against its frame size) runs before the model loads; the outputs appear only when
the whole video is done (sam_edge/commands/track_video.py).
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
    positive_int,
)
from sam_edge.commands.segment_cmd import parse_box, parse_point
from sam_edge.runtime.errors import InvalidInputError, OutputPathError

CARRY_CHOICES = ("box+logits", "box")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "track",
        help="carry one mask through a video (point or box on the first frame)",
        description="Segment the object under --point or --box on the first frame of VIDEO and carry its mask "
        "through the following frames (each step prompts with the last mask's box and low-res logits). "
        "Needs the video extra: pip install 'sam-edge[video]'.",
    )
    parser.add_argument("video", type=Path, help="video file (MP4, MKV, MOV, AVI, WebM, ...)")
    parser.add_argument(
        "--point", type=parse_point, metavar="X,Y", help="the object on the first frame (original pixels)"
    )
    parser.add_argument("--box", type=parse_box, metavar="X0,Y0,X1,Y1", help="the object's box on the first frame")
    parser.add_argument(
        "--every", type=positive_int, default=1, metavar="N", help="segment every Nth frame, skip the rest (default: 1)"
    )
    parser.add_argument(
        "--carry",
        choices=CARRY_CHOICES,
        default="box+logits",
        help="what each step carries from the last mask: its box and low-res logits (default), or the box only, "
        "which follows moving objects better (docs/video.md)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="writes DIR/masks.json and DIR/overlay.mp4 (new or empty)",
    )
    add_model_option(parser)
    add_backend_option(parser)
    add_threads_option(parser)
    add_max_pixels_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sam_edge.commands.progress import ProgressBar
    from sam_edge.commands.track_video import MASKS_FILE, OVERLAY_FILE, track_video
    from sam_edge.commands.video_io import probe_video, require_av
    from sam_edge.runtime.default_model import resolve_model_dir
    from sam_edge.runtime.predictor import SamPredictor

    prompt = make_prompt(args)
    require_av()
    check_out_dir(args.out)
    info = probe_video(args.video, args.max_pixels)
    check_prompt_inside(prompt, info.size)  # before seconds of model loading and encoding
    predictor = SamPredictor(
        resolve_model_dir(args.model), backend=args.backend, threads=args.threads, max_pixels=args.max_pixels,
        cache_size=0,
    )  # fmt: skip
    started = time.perf_counter()
    bar = ProgressBar(label="tracking", unit="frames")
    result = track_video(predictor, info, prompt, args.every, args.out, args.carry == "box+logits", bar)
    seconds = time.perf_counter() - started
    height, width = info.size
    print(f"model {predictor.metadata.model_id} ({predictor.decoder.path.parent}), {predictor.decoder.layout} decoder")
    lost = "" if result.lost_at is None else f"; mask lost at frame {result.lost_at}"
    print(
        f"video {width}x{height} at {float(info.fps):.3g} fps: {result.decoded} frames, {len(result.records)} "
        f"segmented (every {args.every}), {result.decoded - len(result.records)} skipped, in {seconds:.1f} s{lost}"
    )
    print(f"wrote {args.out} ({MASKS_FILE}, {OVERLAY_FILE})")
    return 0


def make_prompt(args: argparse.Namespace):
    """The TrackPrompt of --point / --box: exactly one of them."""
    from sam_edge.commands.track_video import TrackPrompt

    if (args.point is None) == (args.box is None):
        given = "both" if args.point is not None else "neither"
        raise InvalidInputError(f"give one prompt, --point X,Y or --box X0,Y0,X1,Y1; got {given}")
    if args.point is not None:
        return TrackPrompt(point=args.point[:2], label=args.point[2])
    return TrackPrompt(box=args.box)


def check_out_dir(out: Path) -> None:
    """--out must be able to become a directory and be new or empty (its two files are staged, then renamed)."""
    from sam_edge.runtime.atomic_write import check_output_dir

    if out.exists() and not out.is_dir():
        raise OutputPathError(f"--out {out} is a file; expected a directory to create (or an empty one)")
    check_output_dir(out)
    if out.is_dir() and any(out.iterdir()):
        raise OutputPathError(f"--out {out} is not empty; give a new or empty directory")


def check_prompt_inside(prompt, frame_size: tuple[int, int]) -> None:
    """The runtime's own prompt checks against the video's frame size (MaskTrack.start checks them again)."""
    from sam_edge.runtime.prompts import check_boxes, check_points

    if prompt.point is not None:
        check_points([prompt.point], [prompt.label], frame_size, batched=False)
    else:
        check_boxes(prompt.box, frame_size, batched=False)
