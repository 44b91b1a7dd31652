"""``sam-edge quantize``: int8 / fp16 encoder graphs, kept only when they pass the fidelity gate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sam_edge.commands.argument_types import add_threads_option, model_directory, positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "quantize", help="int8 / fp16 versions of a model's encoder, gated against fp32",
        description="Apply a quantization recipe to MODEL_DIR's encoder, check it against fp32 (embedding cosine, "
                    "mask IoU over fixed point and box prompts on held-out images, benchmark mIoU for the default "
                    "model), time it against fp32 on the same backend, and write the model (graphs + "
                    "quantization.json/.md) to --out. `--recipe auto` tries the recipes that suit this CPU (`all`: every "
                    "preset; `a,b`: those) and keeps the fastest that passes and beats fp32 by 5%, or fp32. Recipes: see `sam-edge quantize --list`.")
    parser.add_argument("model_dir", nargs="?", type=model_directory, metavar="MODEL_DIR", help="exported model directory")
    parser.add_argument("--recipe", default="auto", metavar="NAME", help="a preset, several (comma-separated), all, or auto (default: auto)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="new or empty directory for the quantized model")
    parser.add_argument("--calib", type=Path, metavar="DIR", help="calibration images (default: generated scenes)")
    parser.add_argument("--gate", type=Path, metavar="DIR", help="gate images (default: held-out benchmark scenes)")
    parser.add_argument("--calib-images", type=positive_int, default=16, metavar="N", help="calibration images to use (default 16)")
    parser.add_argument("--gate-images", type=positive_int, default=8, metavar="N", help="gate images (default 8)")
    parser.add_argument("--miou-images", type=int, metavar="N",
                        help="benchmark images for the mIoU check (default: 20 for the default model, 0 = off)")
    parser.add_argument("--rounds", type=positive_int, default=5, metavar="N", help="timed encoder calls per graph (default 5)")
    add_threads_option(parser)
    parser.add_argument("--force", action="store_true", help="write the recipe's result even when it fails the gate (flagged in its metadata)")
    parser.add_argument("--list", action="store_true", help="list the recipes and what auto tries on this CPU, then exit")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sam_edge.runtime.errors import InvalidInputError

    if args.list:
        print(list_recipes())
        return 0
    if args.model_dir is None or args.out is None:
        raise InvalidInputError("quantize needs MODEL_DIR and --out DIR (or --list)")
    if args.miou_images is not None and args.miou_images < 0:
        raise InvalidInputError(f"--miou-images must be >= 0; got {args.miou_images}")
    from sam_edge.quantize.pipeline import QuantizeOptions, quantize_model
    from sam_edge.quantize.report import render_markdown

    options = QuantizeOptions(recipe=args.recipe, calib_dir=args.calib, gate_dir=args.gate, calib_images=args.calib_images,
                              gate_images=args.gate_images, miou_images=args.miou_images, rounds=args.rounds,
                              force=args.force, threads=args.threads)
    outcome = quantize_model(args.model_dir, args.out, options)
    print(render_markdown(outcome), end="")
    if not outcome.written:
        print(f"sam-edge quantize: recipe {args.recipe} failed the gate; nothing written (--force keeps it, flagged)", file=sys.stderr)
        return 1
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def list_recipes() -> str:
    from sam_edge.quantize.isa import detect_isa
    from sam_edge.quantize.recipes import AUTO_CANDIDATES, PRESETS

    isa = detect_isa()
    lines = [f"{name:32s} {recipe.backend:12s} {recipe.precision:5s} {type(recipe).__name__}" for name, recipe in PRESETS.items()]
    lines.append(f"auto on this CPU ({isa}) tries: {', '.join(AUTO_CANDIDATES[isa])}")
    return "\n".join(lines)
