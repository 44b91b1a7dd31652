"""``sam-edge backends MODEL_DIR``: time both engines on this machine and record which runs each part faster.

``sam-edge export --format both`` writes ``<model>.backends.json`` on the exporting machine; the faster
engine differs between CPUs, so the record keeps one measurement per CPU (model name + ISA flags +
threads) and this command adds this CPU's, replacing an earlier one of the same CPU. The runtime
follows the running CPU's measurement whenever no backend is named, and says in one line when the
record has none for it (a model directory copied to another machine, or the bundled model on a user's).
"""

from __future__ import annotations

import argparse
import os
import warnings

from sam_edge.commands.argument_types import add_threads_option, model_directory, positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "backends",
        help="time onnxruntime and OpenVINO here and record the faster one per part",
        description="Time encode and 1-point predict with each engine the model directory has graphs for, "
        "print the medians and write <model>.backends.json (atomically) for the runtime to follow.",
    )
    parser.add_argument(
        "model_dir", type=model_directory, nargs="?", help="exported model directory (default: the bundled model)"
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=3,
        help="timed encoder runs per engine (predict: max(rounds, 10)); default 3",
    )
    add_threads_option(parser, "intra-op threads (default: physical cores or $SAM_EDGE_THREADS)")
    parser.add_argument("--dry-run", action="store_true", help="measure and print, write nothing")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sam_edge.bench.engine_choice import measure_backends
    from sam_edge.runtime.backend_choice import engines_with_encoder, write_backend_choice
    from sam_edge.runtime.default_model import resolve_model_dir
    from sam_edge.runtime.errors import ModelFileError, SamEdgeNote
    from sam_edge.runtime.graph_file import GraphFile
    from sam_edge.runtime.model_dir import find_model_files

    model_dir = resolve_model_dir(args.model_dir)
    with warnings.catch_warnings():  # the note that this CPU is not measured yet: measuring it is what this does
        warnings.simplefilter("ignore", SamEdgeNote)
        files = find_model_files(model_dir)  # raises a clear error for a missing or empty directory
    graph = GraphFile.parse(files.encoder)
    engines = engines_with_encoder(model_dir, graph.precision)
    if len(engines) < 2:
        raise ModelFileError(
            f"{model_dir} has {graph.precision} encoder graphs for {engines[0]} only; nothing to choose between "
            "(export with `sam-edge export --format both`)"
        )
    if not args.dry_run and not os.access(model_dir, os.W_OK):  # say so before minutes of timing
        raise ModelFileError(
            f"{model_dir} is not writable; copy the model directory somewhere writable or use --dry-run"
        )
    print(f"timing {model_dir} ({graph.precision} encoder) with {args.rounds} encoder rounds per engine", flush=True)
    choice = measure_backends(
        model_dir, rounds=args.rounds, threads=args.threads, progress=print, precision=graph.precision
    )
    print(f"on {choice.cpu}, {choice.threads} threads")
    for part, label, times in (
        ("encoder", "encoder", choice.encoder_ms),
        ("decoder", "1-point predict", choice.decoder_ms),
    ):
        measured = ", ".join(f"{backend} {ms:.1f} ms" for backend, ms in sorted(times.items()))
        print(f"{label}: {measured} -> {choice.preferred(part)}")
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    try:
        path = write_backend_choice(choice, model_dir, graph.model)
    except OSError as error:
        raise ModelFileError(
            f"cannot write the record into {model_dir} ({error.strerror}); "
            "copy the model directory somewhere writable or use --dry-run"
        ) from None
    print(f"wrote {path}")
    return 0
