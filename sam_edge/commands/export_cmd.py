"""``sam-edge export``: an official checkpoint (or seeded random weights) -> validated ONNX / OpenVINO graphs.

PyTorch is needed only here, so it is imported inside ``run``: the rest of the CLI works without it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sam_edge.commands.progress import ProgressBar, format_size
from sam_edge.export.sam2_specs import SAM2_SPECS
from sam_edge.export.specs import OFFICIAL_SPECS
from sam_edge.runtime.atomic_write import check_output_dir
from sam_edge.runtime.errors import InvalidInputError, SamEdgeError

# The same tuple as sam_edge.export.api.FORMATS (a test checks); repeated so parsing needs no torch.
FORMATS = ("onnx", "openvino", "both")
DECODER_LAYOUTS = ("full", "split", "both")  # as sam_edge.export.api.DECODER_LAYOUTS
MODEL_TYPES = list(OFFICIAL_SPECS) + list(SAM2_SPECS)  # SAM's, then SAM 2 / 2.1's (export/sam2_specs.py)
INSTALL_HINT = "pip install 'sam-edge[export]'"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="export a SAM checkpoint to validated ONNX / OpenVINO graphs",
        description="Export encoder and decoder graphs, each validated against PyTorch before it is written. "
        "Files appear under their final names only when every graph has passed.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--checkpoint",
        metavar="FILE|NAME",
        help="official-format state dict (.pth/.pt), or the registry name of a downloaded one (sam-edge models)",
    )
    source.add_argument(
        "--pretrained",
        metavar="NAME",
        help="download registry checkpoint NAME if needed (sam-edge models), then export it",
    )
    source.add_argument(
        "--random",
        choices=MODEL_TYPES,
        metavar="MODEL_TYPE",
        help=f"official architecture with seeded random weights: {', '.join(MODEL_TYPES)}",
    )
    parser.add_argument(
        "--model-type",
        choices=MODEL_TYPES,
        help="variant of --checkpoint (default: detected from its keys and shapes)",
    )
    parser.add_argument("--seed", type=int, help="seed of --random weights (default 0)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory (created if needed)")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="graph format (default onnx)")
    parser.add_argument(
        "--decoder",
        choices=DECODER_LAYOUTS,
        default="both",
        help="decoder graphs: 'full' (one graph, SAM's interface), 'split' (image stage + "
        "prompt stage, the runtime's fast path) or 'both' (default)",
    )
    parser.add_argument(
        "--official-decoder",
        action="store_true",
        help="also write the decoder with SAM's own ONNX interface (masks upsampled to orig_im_size)",
    )
    parser.add_argument(
        "--no-backend-timing",
        action="store_true",
        help="with --format both, skip timing both engines (otherwise written to <model>.backends.json, "
        "from which the runtime picks the faster engine per part)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    check_arguments(args)
    check_output_dir(args.out)  # before loading: a 2.5 GB checkpoint should not be read (or fetched) for nothing
    api = import_export_api()
    if args.checkpoint is not None or args.pretrained is not None:
        model = api.load_model(checkpoint=resolve_checkpoint(args), model_type=args.model_type)
    else:
        model = api.load_model(model_type=args.random, random_seed=args.seed)
    api.print_progress(f"exporting {model.model_id} to {args.out} ({args.format})")
    license = getattr(model.sam.spec, "weights_license", None)
    if license and model.checkpoint_sha256:  # random weights are nobody's
        api.print_progress(f"note: {license}")
    reports = api.export_model(
        model,
        args.out,
        args.format,
        args.official_decoder,
        decoder=args.decoder,
        time_backends=not args.no_backend_timing,
    )
    print_summary(args.out, reports)
    return 0


def check_arguments(args: argparse.Namespace) -> None:
    """Options that only make sense with one source are errors with the other, not silently ignored."""
    if args.random is not None and args.model_type is not None:
        raise InvalidInputError("--model-type applies to --checkpoint; --random already names the model type")
    if args.checkpoint is not None and args.seed is not None:
        raise InvalidInputError("--seed applies to --random; a checkpoint brings its own weights")
    if args.pretrained is not None and args.model_type is not None:
        raise InvalidInputError(
            "--model-type applies to --checkpoint FILE; --pretrained NAME already names the model type"
        )
    if args.pretrained is not None and args.seed is not None:
        raise InvalidInputError("--seed applies to --random; a checkpoint brings its own weights")
    if args.random is not None and args.seed is None:
        args.seed = 0


def resolve_checkpoint(args: argparse.Namespace) -> Path:
    """The checkpoint file: a file as given, a registry name from the cache, a --pretrained name downloaded."""
    from sam_edge.download.api import export_checkpoint

    value = args.pretrained if args.pretrained is not None else args.checkpoint
    # nano has no official checkpoint
    exportable = tuple(name for name in OFFICIAL_SPECS if name != "nano") + tuple(SAM2_SPECS)
    with ProgressBar(label=value, unit="bytes", min_interval_s=0.2) as progress:
        return export_checkpoint(value, args.pretrained is not None, exportable, progress)


def import_export_api():
    """sam_edge.export.api, or a one-line error naming the missing extra."""
    for module, what in (("torch", "PyTorch"), ("onnx", "onnx")):
        try:
            __import__(module)
        except ImportError:
            raise SamEdgeError(f"export needs {what}: {INSTALL_HINT}") from None
    from sam_edge.export import api

    return api


def artifact_files(report_path: Path) -> list[Path]:
    """A graph file and the weight file that goes with it (.bin for OpenVINO, .onnx.data for large ONNX)."""
    if report_path.suffix == ".xml":
        companions = [report_path.with_suffix(".bin")]
    else:  # an .onnx beside its OpenVINO twin must not claim the twin's .bin
        companions = [report_path.with_name(report_path.name + ".data")]
    return [report_path] + [path for path in companions if path.is_file()]


def print_summary(out_dir: Path, reports) -> None:
    """What was written (stdout, so scripts can read it), with sizes and the worst validation difference."""
    files = [(path, report) for report in reports for path in artifact_files(report.path)]
    total = sum(path.stat().st_size for path, _ in files)
    print(f"wrote {len(files)} files ({format_size(total)}) to {out_dir}:")
    width = max(len(path.name) for path, _ in files)
    for path, report in files:
        check = f"  max abs diff {max(report.max_abs_diff.values()):.1e}" if path == report.path else ""
        print(f"  {path.name:<{width}}  {format_size(path.stat().st_size):>9}{check}")
