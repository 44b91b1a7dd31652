"""``sam-edge info MODEL_DIR``: print the metadata records of a model's graphs, and what each one
executes in on this CPU (OpenVINO graphs are compiled to read it back from the plugin)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sam_edge.commands.argument_types import model_directory


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show what an exported model is",
        description="Print the sam_edge metadata of every graph in MODEL_DIR.",
    )
    parser.add_argument(
        "model_dir",
        type=model_directory,
        nargs="?",
        help="exported model directory or bundled model name (default: the bundled model)",
    )
    parser.add_argument("--json", action="store_true", help="print the raw records as JSON")
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="do not compile the graphs to read the precision they execute in (faster for vit_h)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sam_edge.runtime.backends import read_graph_metadata
    from sam_edge.runtime.cpu import cpu_model, isa_summary
    from sam_edge.runtime.default_model import find_model_dir
    from sam_edge.runtime.errors import ModelFileError

    model_dir = find_model_dir(args.model_dir)
    if not model_dir.is_dir():
        raise ModelFileError(f"model directory {model_dir} does not exist")
    graphs = sorted(p for p in model_dir.iterdir() if p.suffix in (".onnx", ".xml"))
    if not graphs:
        raise ModelFileError(f"{model_dir} holds no .onnx or .xml graphs; export a model with `sam-edge export`")
    records = {graph.name: read_graph_metadata(graph) for graph in graphs}
    executes = {} if args.no_compile else {graph.name: _executed_precision(graph) for graph in graphs}
    if args.json:
        print(
            json.dumps(
                {
                    name: json.loads(meta.to_json()) | ({"executes": executes[name]} if executes else {})
                    for name, meta in records.items()
                },
                indent=2,
            )
        )
        return 0
    print(f"CPU {cpu_model()}: {isa_summary()}")
    licenses = sorted({meta.spec.get("weights_license") for meta in records.values()} - {None})
    for license in licenses:  # once per model, before its graphs: a licence is what a user must not miss
        print(f"weights licence: {license}")
    for name, meta in records.items():
        graph = model_dir / name
        weights = graph.with_suffix(".bin") if graph.suffix == ".xml" else graph.with_name(name + ".data")
        size_mb = sum(f.stat().st_size for f in (graph, weights) if f.exists()) / 1e6
        print(f"{name}  ({size_mb:.1f} MB)")
        print(
            f"  model {meta.model_type}  id {meta.model_id}  part {meta.part}  precision {meta.precision}  recipe "
            f"{meta.recipe}"
        )
        if executes:
            print(f"  executes on this CPU: {executes[name]}")
        print(
            f"  image_size {meta.image_size}  embedding {list(meta.embedding_shape)}  normalization in graph: "
            f"{meta.normalization_in_graph}"
        )
        print(
            f"  opset {meta.opset}  exporter {meta.exporter}  checkpoint sha256 "
            f"{meta.checkpoint_sha256 or '(random weights)'}"
        )
        if meta.extra.get("family") == "sam2":  # SAM's own lines stay as they were
            print(
                f"  family sam2  resize {meta.extra.get('resize')} (no padding)  masks "
                f"{meta.extra.get('mask_postprocess')} (256 x 256 -> original size)"
            )
    return 0


def _executed_precision(graph: Path) -> str:
    """ "<engine> <precision>" of ``graph`` as the runtime would run it here, e.g. "openvino f32"."""
    from sam_edge.runtime.backends import open_backend

    backend = open_backend(graph, threads=1)
    return f"{backend.name} {backend.executed_precision()}"
