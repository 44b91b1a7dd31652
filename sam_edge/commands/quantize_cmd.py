"""``sam-edge quantize``: int8 / fp16 / bf16 encoder graphs, kept only when they pass the fidelity gate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sam_edge.commands.argument_types import add_threads_option, model_directory, positive_int
from sam_edge.quantize.recipes import DEFAULT_CALIBRATION_IMAGES, DEFAULT_GATE_IMAGES, DEFAULT_ROUNDS


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "quantize",
        help="int8 / fp16 / bf16 versions of a model's encoder, gated against fp32",
        description="Apply a quantization recipe to MODEL_DIR's encoder, check it against fp32 (embedding cosine, "
        "mask IoU over fixed point and box prompts on held-out images, benchmark mIoU for the default "
        "model), time it against fp32 on the same backend, and write the model (graphs + "
        "quantization.json/.md) to --out. `--recipe auto` tries the recipes that suit this CPU (`all`: every "
        "preset; `a,b`: those) and keeps the fastest that passes and beats fp32 by 5%, or fp32. Recipes: see "
        "`sam-edge quantize --list`.",
    )
    parser.add_argument(
        "--list", action=ListRecipes, help="list the recipes and what auto tries on this CPU, then exit"
    )
    parser.add_argument("model_dir", type=model_directory, metavar="MODEL_DIR", help="exported model directory")
    parser.add_argument(
        "--recipe",
        default="auto",
        metavar="NAME",
        help="a preset, several (comma-separated), all, or auto (default: auto)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", required=True, help="new or empty directory for the quantized model"
    )
    parser.add_argument("--calib", type=Path, metavar="DIR", help="calibration images (default: generated scenes)")
    parser.add_argument("--gate", type=Path, metavar="DIR", help="gate images (default: held-out benchmark scenes)")
    parser.add_argument(
        "--calib-images",
        type=positive_int,
        default=DEFAULT_CALIBRATION_IMAGES,
        metavar="N",
        help=f"calibration images to use (default {DEFAULT_CALIBRATION_IMAGES})",
    )
    parser.add_argument(
        "--gate-images",
        type=positive_int,
        default=DEFAULT_GATE_IMAGES,
        metavar="N",
        help=f"gate images (default {DEFAULT_GATE_IMAGES})",
    )
    parser.add_argument(
        "--miou-images",
        type=int,
        metavar="N",
        help="benchmark images for the mIoU check (default: 20 for the default model, 0 = off)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=DEFAULT_ROUNDS,
        metavar="N",
        help=f"timed encoder calls per graph (default {DEFAULT_ROUNDS})",
    )
    add_threads_option(parser)
    parser.add_argument(
        "--force",
        action="store_true",
        help="write the recipe's result even when it fails the gate (flagged in its metadata)",
    )
    parser.set_defaults(run=run)


class ListRecipes(argparse.Action):
    """``--list``: print the recipes and exit during parsing, as --help does, so MODEL_DIR stays required."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(list_recipes())
        parser.exit(0)


def run(args: argparse.Namespace) -> int:
    from sam_edge.runtime.errors import InvalidInputError

    if args.miou_images is not None and args.miou_images < 0:
        raise InvalidInputError(f"--miou-images must be >= 0; got {args.miou_images}")
    from sam_edge.quantize.pipeline import QuantizeOptions, quantize_model
    from sam_edge.quantize.report import render_markdown

    options = QuantizeOptions(
        recipe=args.recipe,
        calib_dir=args.calib,
        gate_dir=args.gate,
        calib_images=args.calib_images,
        gate_images=args.gate_images,
        miou_images=args.miou_images,
        rounds=args.rounds,
        force=args.force,
        threads=args.threads,
    )
    outcome = quantize_model(args.model_dir, args.out, options)
    print(render_markdown(outcome), end="")
    if not outcome.written:
        print(
            f"sam-edge quantize: recipe {args.recipe} failed the gate; nothing written (--force keeps it, flagged)",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def list_recipes() -> str:
    from sam_edge.quantize.isa import cpu_flags, detect_isa
    from sam_edge.quantize.recipes import PRESETS, auto_candidates, missing_cpu_feature

    isa, flags = detect_isa(), cpu_flags()
    lines = [
        f"{name:32s} {recipe.backend:12s} {recipe.precision:5s} {type(recipe).__name__}"
        + ("  (not on this CPU)" if missing_cpu_feature(recipe, flags) else "")
        for name, recipe in PRESETS.items()
    ]
    lines.append(f"auto on this CPU ({isa}) tries: {', '.join(r.name for r in auto_candidates(isa, flags))}")
    return "\n".join(lines)
