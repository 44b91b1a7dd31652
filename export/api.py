"""Export a SAM model (official checkpoint or seeded random weights) to validated ONNX / OpenVINO graphs.

Artifacts are named ``<model>.<part>.<precision>.<onnx|xml>`` (docs/architecture.md) and carry a GraphMetadata
record. Every graph is validated against PyTorch before it gets its final name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from sam_edge import __version__
from sam_edge.bench.engine_choice import measure_backends
from sam_edge.export.checkpoint import load_sam
from sam_edge.export.graphs import RECIPES
from sam_edge.export.modeling.sam import Sam
from sam_edge.export.modeling.sam2 import Sam2
from sam_edge.export.onnx_export import OPSET, Progress, ValidationReport, export_onnx, torch_reference
from sam_edge.export.random_weights import randomize_state_dict
from sam_edge.export.sam2_checkpoint import load_sam2
from sam_edge.export.sam2_export import (
    build_random_sam2,
    export_sam2_part,
    is_sam2_checkpoint,
    is_sam2_model_type,
    sam2_exported_parts,
)
from sam_edge.export.sam2_specs import get_sam2_spec
from sam_edge.export.specs import ModelSpec, get_spec
from sam_edge.runtime.atomic_write import missing_folders, prepare_output_dir, staging_dir
from sam_edge.runtime.backend_choice import write_backend_choice
from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.graph_file import GraphFile
from sam_edge.runtime.metadata import GraphMetadata
from sam_edge.runtime.transforms import PIXEL_MEAN, PIXEL_STD

FORMATS = ("onnx", "openvino", "both")
# "full": SAM's decoder as one graph; "split": image stage + prompt stage (the runtime's fast path,
# which also handles mask inputs); "both": all three.
DECODER_LAYOUTS = ("full", "split", "both")


def print_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LoadedModel:
    """A Sam (or a SAM 2 model, Sam2) in eval mode plus the identity stamped into its graphs."""

    sam: Sam | Sam2
    model_id: str
    checkpoint_sha256: str = ""


def build_random_sam(spec: ModelSpec, seed: int) -> Sam:
    """The architecture of ``spec`` with seeded random weights (same values as the golden files)."""
    sam = Sam(spec)
    sam.load_state_dict(randomize_state_dict(sam.state_dict(), seed))
    return sam.eval()


def load_model(
    checkpoint: str | Path | None = None, model_type: str | ModelSpec | None = None, random_seed: int | None = None
) -> LoadedModel:
    """From a checkpoint (variant detected unless given) or, with ``random_seed``, random weights.

    SAM 2 / 2.1 checkpoints and model types (export/sam2_specs.py) load as a Sam2 (export/sam2_checkpoint.py).
    """
    if checkpoint is not None and is_sam2_checkpoint(checkpoint, model_type):
        sam2, sha256 = load_sam2(checkpoint, model_type)
        return LoadedModel(sam2, f"{sam2.spec.name}-{sha256[:12]}", sha256)
    if checkpoint is not None:
        sam, sha256 = load_sam(checkpoint, model_type)
        return LoadedModel(sam, f"{sam.spec.name}-{sha256[:12]}", sha256)
    if model_type is None or random_seed is None:
        raise InvalidInputError("give a checkpoint, or a model type and a seed for random weights")
    if is_sam2_model_type(model_type):
        spec = get_sam2_spec(model_type) if isinstance(model_type, str) else model_type
        return LoadedModel(build_random_sam2(spec, random_seed), f"{spec.name}-random-seed{random_seed}")
    spec = get_spec(model_type) if isinstance(model_type, str) else model_type
    return LoadedModel(build_random_sam(spec, random_seed), f"{spec.name}-random-seed{random_seed}")


def graph_metadata(model: LoadedModel, part: str) -> GraphMetadata:
    spec = model.sam.spec
    return GraphMetadata(
        model_type=spec.name,
        model_id=model.model_id,
        part=part,
        image_size=spec.image_size,
        embedding_shape=spec.embedding_shape,
        pixel_mean=PIXEL_MEAN,
        pixel_std=PIXEL_STD,
        normalization_in_graph=False,
        precision="fp32",
        recipe="none",
        opset=OPSET,
        exporter=f"sam-edge {__version__} / torch {torch.__version__}",
        checkpoint_sha256=model.checkpoint_sha256,
        spec=spec.to_dict(),
    )


def export_model(
    model: LoadedModel,
    out_dir: str | Path,
    fmt: str = "onnx",
    official_decoder: bool = False,
    progress: Progress = print_progress,
    decoder: str = "both",
    time_backends: bool = True,
) -> list[ValidationReport]:
    """Write the encoder, the decoder in ``decoder`` layout (+ the official-interface decoder) to ``out_dir``.

    Returns the validation reports. With both formats and ``time_backends``, also times both engines on
    this machine and writes ``<model>.backends.json`` (runtime/backend_choice.py).

    All graphs or none: they are staged in a hidden folder inside ``out_dir`` and renamed into place only
    when every one has passed validation, so a failed or interrupted export leaves no subset of the graphs
    (and no folder it created) behind.
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if decoder not in DECODER_LAYOUTS:
        raise InvalidInputError(f"unknown decoder layout {decoder!r}; expected one of {', '.join(DECODER_LAYOUTS)}")
    parts = exported_parts(decoder, official_decoder)
    if isinstance(model.sam, Sam2):
        parts = sam2_exported_parts(decoder, official_decoder)
    out_dir = Path(out_dir)
    created = missing_folders(out_dir)
    out_dir = prepare_output_dir(out_dir)
    succeeded = False
    try:
        with staging_dir(out_dir, "sam-edge-export") as staging:
            reports = _export_parts(model, staging, fmt, parts, progress)
            if fmt == "both" and time_backends:
                progress("measuring which backend runs each part faster here")
                choice = measure_backends(staging, progress=progress)
                write_backend_choice(choice, staging, model.sam.spec.name)
                progress(
                    f"  encoder: {_times(choice.encoder_ms)} -> {choice.preferred('encoder')}; "
                    f"1-point predict: {_times(choice.decoder_ms)} -> {choice.preferred('decoder')}"
                )
            _move_staged_files(staging, out_dir)
        succeeded = True
    finally:
        if not succeeded:
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if still empty
    return [dataclasses.replace(report, path=out_dir / report.path.name) for report in reports]


def _times(milliseconds: dict[str, float]) -> str:
    return ", ".join(f"{backend} {ms:.1f} ms" for backend, ms in milliseconds.items())


def exported_parts(decoder: str = "both", official_decoder: bool = False) -> list[str]:
    """The graphs an export writes, in order."""
    parts = ["encoder"] + (["decoder"] if decoder in ("full", "both") else [])
    parts += ["decoder_image", "decoder_prompt"] if decoder in ("split", "both") else []
    return parts + (["decoder_official"] if official_decoder else [])


def _export_parts(
    model: LoadedModel, staging: Path, fmt: str, parts: list[str], progress: Progress
) -> list[ValidationReport]:
    reports = []
    for step, part in enumerate(parts, start=1):
        started = time.perf_counter()
        progress(f"[{step}/{len(parts)}] {part}")
        reports += export_part(model, part, staging, fmt, progress)
        progress(f"  done in {time.perf_counter() - started:.1f} s")
    return reports


def _move_staged_files(staging: Path, out_dir: Path) -> None:
    """Rename every staged file into ``out_dir``: weights (.bin, .data) first, graph files (.onnx, .xml) last."""
    files = [path for path in staging.iterdir() if path.is_file()]
    for path in sorted(files, key=lambda path: path.suffix in (".onnx", ".xml")):
        os.replace(path, out_dir / path.name)


def export_part(model: LoadedModel, part: str, out_dir: Path, fmt: str, progress: Progress) -> list[ValidationReport]:
    """One graph in the requested format(s); the ONNX file is also the source of the OpenVINO IR."""
    if isinstance(model.sam, Sam2):
        return export_sam2_part(model, part, out_dir, fmt, progress)
    graph = GraphFile(model.sam.spec.name, part, "fp32", "onnxruntime")
    metadata = graph_metadata(model, part)
    onnx_path = graph.path(out_dir)
    reports = [export_onnx(model.sam, part, onnx_path, metadata, progress)]
    if fmt in ("openvino", "both"):
        from sam_edge.export.openvino_export import export_openvino

        recipe = RECIPES[part]
        feeds = recipe.example_feeds(model.sam)
        expected = torch_reference(model.sam, part, feeds)
        feeds = recipe.graph_feeds(feeds)
        xml_path = graph.with_(backend="openvino").path(out_dir)
        reports.append(export_openvino(onnx_path, xml_path, metadata, feeds, expected, recipe.tolerances(), progress))
        if fmt == "openvino":
            onnx_path.unlink()  # only the intermediate: report just the files that stay
            reports = reports[1:]
    return reports
