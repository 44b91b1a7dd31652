"""``sam-edge bench``: latency scenarios, references in the same run, targets; exit 1 when a target is missed."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from sam_edge.commands.argument_types import add_backend_option, add_model_option, add_threads_option


def _argument_type(function):
    """Turn a library validator's InvalidInputError into argparse's one-line usage error."""

    def parse(text: str):
        from sam_edge.runtime.errors import InvalidInputError

        try:
            return function(text)
        except InvalidInputError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = function.__name__
    return parse


def parse_target(text: str) -> float:
    from sam_edge.bench.runner import check_positive

    return check_positive(text, "--target-ms")


def parse_budget(text: str) -> float | dict:
    """'900' (every model) or 'vit_t=900,vit_b=9000' (per model type)."""
    from sam_edge.bench.models import parse_random_models
    from sam_edge.bench.runner import check_positive

    if "=" not in text:
        return check_positive(text, "--encoder-budget-ms")
    budgets = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        parse_random_models(name)  # known model type, or a one-line error
        budgets[name.strip()] = check_positive(value, f"--encoder-budget-ms for {name.strip()}")
    return budgets


def parse_scenarios(text: str) -> tuple[str, ...]:
    from sam_edge.bench.runner import check_scenario_names

    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    check_scenario_names(names)
    return names


def parse_models(text: str) -> tuple[str, ...]:
    from sam_edge.bench.models import parse_random_models

    return parse_random_models(text)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="latency benchmark with targets (exit 1 when one is missed)",
        description="Time the encoder, predict (1 point, 1 box, 5 points, box + point, mask input), 16 boxes batched, "
        "an interactive hover session, post-processing and time to first mask; compare with PyTorch eager and "
        "the official ONNX decoder in the same run; check p95 of 1-point predict <= --target-ms and the "
        "encoder budget. Writes bench.json, bench.md and bench.png with --out.",
    )
    source = parser.add_mutually_exclusive_group()
    add_model_option(source)
    source.add_argument(
        "--random",
        type=_argument_type(parse_models),
        metavar="TYPES",
        help="comma-separated model types exported with random weights into a cache, e.g. vit_t,vit_b",
    )
    add_backend_option(parser)
    parser.add_argument("--quick", action="store_true", help="few rounds: proves the suite works, does not judge speed")
    parser.add_argument(
        "--target-ms",
        type=_argument_type(parse_target),
        default=50.0,
        metavar="MS",
        help="p95 limit of 1-point predict (default 50)",
    )
    parser.add_argument(
        "--encoder-budget-ms",
        type=_argument_type(parse_budget),
        metavar="MS",
        help="encoder median limit: one number, or per model like vit_t=900,vit_b=9000 "
        "(default: vit_b 10000, vit_t 1000, nano 150; other models not gated)",
    )
    parser.add_argument(
        "--scenarios",
        type=_argument_type(parse_scenarios),
        metavar="NAMES",
        help="comma-separated subset (default: all)",
    )
    parser.add_argument("--checkpoint", type=Path, metavar="FILE", help="weights of --model for the PyTorch reference")
    add_threads_option(parser, "CPU threads for everything (default: physical cores)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="write bench.json, bench.md and bench.png here")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the encoder and the per-prompt decoder graph per operator type "
        "(onnxruntime; printed, and written to profile.md with --out)",
    )
    parser.set_defaults(run=run)


def command_line(args: argparse.Namespace) -> str:
    """The command as it could be typed again (recorded in bench.md)."""
    words = ["sam-edge", "bench"]
    for option in (
        "model",
        "random",
        "backend",
        "target_ms",
        "encoder_budget_ms",
        "scenarios",
        "checkpoint",
        "threads",
        "out",
    ):
        value = getattr(args, option)
        if value is not None:
            if isinstance(value, (tuple, list)):
                value = ",".join(value)
            elif isinstance(value, dict):
                value = ",".join(f"{name}={budget:g}" for name, budget in value.items())
            words += [f"--{option.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(words + (["--quick"] if args.quick else []) + (["--profile"] if args.profile else []))


def run(args: argparse.Namespace) -> int:
    from sam_edge.bench.models import random_model_dir
    from sam_edge.bench.report import markdown_table, targets_text, write_report
    from sam_edge.bench.runner import BenchSettings, run_benchmarks
    from sam_edge.runtime.atomic_write import check_output_dir
    from sam_edge.runtime.default_model import resolve_model_dir

    settings = BenchSettings(
        backend=args.backend,
        threads=args.threads,
        quick=args.quick,
        target_ms=args.target_ms,
        encoder_budget_ms=args.encoder_budget_ms,
        scenarios=args.scenarios,
        checkpoint=str(args.checkpoint) if args.checkpoint else None,
        choose_engines=True,
    )
    if args.out is not None:
        check_output_dir(args.out)  # fail before minutes of work, not after
    if args.random:
        model_dirs = [random_model_dir(model_type, args.backend) for model_type in args.random]
    else:
        model_dirs = [resolve_model_dir(args.model)]
    reports = []
    for model_dir in model_dirs:
        report = run_benchmarks(model_dir, settings)
        print(f"\n{report.model['model_id']}\n\n{markdown_table(report)}\n{targets_text(report)}")
        reports.append(report)
    if args.out is not None:
        for path in write_report(reports, args.out, command_line(args)):
            print(f"wrote {path}")
    if args.profile:
        write_profiles(model_dirs, args)
    missed = [f"{r.model['model_id']}: {t['name']}" for r in reports for t in r.targets if not t["met"]]
    if missed:
        print(f"sam-edge bench: target missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def write_profiles(model_dirs: list[Path], args: argparse.Namespace) -> None:
    """Per-operator profiles of each model's ONNX graphs: printed, and profile.md under --out."""
    from sam_edge.bench.op_profile import markdown, profile_model_dir
    from sam_edge.runtime.atomic_write import atomic_output

    sections = []
    for model_dir in model_dirs:
        profiles = profile_model_dir(model_dir, args.threads, runs=3 if args.quick else 20)
        sections.append(f"## {model_dir.name}\n\n{markdown(profiles)}")
    text = f"# Per-operator profile (onnxruntime)\n\n`{command_line(args)}`\n\n" + "\n".join(sections)
    print("\n" + text)
    if args.out is not None:
        with atomic_output(Path(args.out) / "profile.md", suffix=".md") as temp:
            temp.write_text(text)
        print(f"wrote {Path(args.out) / 'profile.md'}")
