"""Export SAM 2's two graphs to ONNX and OpenVINO IR, each validated against our PyTorch before it is written.

``<model>.sam2_encoder.fp32.*``: image [1, 3, 1024, 1024] (normalized, squashed to 1024 x 1024, no
padding) -> image_embed [1, 256, 64, 64] (no_mem_embed added), high_res_feats_0 [1, 32, 256, 256],
high_res_feats_1 [1, 64, 128, 128] (conv_s0 / conv_s1 applied): everything SAM2ImagePredictor.set_image
keeps. ``<model>.sam2_decoder.fp32.*``: those three + SAM's prompt inputs -> all four masks, sigmoid IoU
and object score logits (export/sam2_graphs.py). Tolerances: 1e-3 encoder, 1e-4 decoder (max abs).

export/api.py dispatches here for SAM 2 checkpoints and model types (``sam-edge export``). The decoder
comes as one graph, as SAM's split pair (``sam2_decoder_image`` + ``sam2_decoder_prompt``,
export/modeling/sam2_split_decoder.py), or both, as ``--decoder`` says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sam_edge.export.checkpoint import read_state_dict
from sam_edge.export.graphs import GraphRecipe  # noqa: F401  (re-exported: tests build recipes from here)
from sam_edge.export.modeling.sam2 import Sam2
from sam_edge.export.onnx_export import (
    OPSET,
    ExportValidationError,
    Progress,
    ValidationReport,
    _move_into_place,
    _stamp_metadata,
    _trace,
    compare_outputs,
    run_onnxruntime,
)
from sam_edge.export.random_weights import randomize_state_dict
from sam_edge.export.sam2_checkpoint import looks_like_sam2
from sam_edge.export.sam2_graphs import (  # noqa: F401  (SAM2_PIXEL_*: re-exported)
    SAM2_ENCODER_RECIPE,
    SAM2_PIXEL_MEAN,
    SAM2_PIXEL_STD,
    SAM2_RECIPES,
    Sam2EncoderGraph,
    sam2_example_feeds,
    sam2_graph_metadata,
)
from sam_edge.export.sam2_specs import SAM2_SPECS, Sam2ModelSpec
from sam_edge.runtime.atomic_write import staging_dir
from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.graph_file import GraphFile
from sam_edge.runtime.interface import SAM2_DECODER, SAM2_DECODER_IMAGE, SAM2_DECODER_PROMPT, SAM2_ENCODER
from sam_edge.runtime.metadata import GraphMetadata


def is_sam2_model_type(model_type) -> bool:
    return isinstance(model_type, Sam2ModelSpec) or (isinstance(model_type, str) and model_type in SAM2_SPECS)


def is_sam2_checkpoint(checkpoint: str | Path, model_type) -> bool:
    """True when ``checkpoint`` is to be loaded as SAM 2: named so, or (no type given) its keys say so.

    Reading the keys costs little: checkpoints are memory-mapped (export/checkpoint.py).
    """
    if model_type is not None:
        return is_sam2_model_type(model_type)
    return looks_like_sam2(read_state_dict(checkpoint))


def build_random_sam2(spec: Sam2ModelSpec, seed: int) -> Sam2:
    """The architecture of ``spec`` with seeded random weights (export/random_weights.py)."""
    sam2 = Sam2(spec)
    sam2.load_state_dict(randomize_state_dict(sam2.state_dict(), seed))
    return sam2.eval()


def sam2_exported_parts(decoder: str, official_decoder: bool) -> list[str]:
    """SAM 2's graphs for a ``--decoder`` layout (as SAM's); ``--official-decoder`` is SAM's own interface."""
    if official_decoder:
        raise InvalidInputError(
            "--official-decoder applies to SAM models (SAM's own ONNX interface); a SAM 2 model has none: leave it out"
        )
    parts = [SAM2_ENCODER.part] + ([SAM2_DECODER.part] if decoder in ("full", "both") else [])
    return parts + ([SAM2_DECODER_IMAGE.part, SAM2_DECODER_PROMPT.part] if decoder in ("split", "both") else [])


def sam2_reference(sam2: Sam2, recipe: GraphRecipe, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Our PyTorch outputs of ``recipe``'s graph on ``feeds``, keyed by the interface's output names."""
    with torch.no_grad():
        outputs = recipe.reference_module(sam2)(
            *(torch.from_numpy(feeds[name]) for name in recipe.reference_input_names())
        )
    return {name: out.numpy() for name, out in zip(recipe.interface.output_names, outputs)}


def export_sam2_onnx(
    sam2: Sam2,
    recipe: GraphRecipe,
    path: Path,
    metadata: GraphMetadata,
    progress: Progress = print,
    reference: tuple[dict, dict] | None = None,
) -> ValidationReport:
    """Write ``recipe``'s graph to ``path`` (.onnx) if it agrees with PyTorch within the recipe's tolerance.

    ``reference`` (feeds, expected outputs) defaults to the example feeds and our PyTorch on them. Nothing
    is written under ``path`` otherwise (ExportValidationError): the graph is staged beside it.
    """
    feeds, expected = reference or _example_reference(sam2, recipe)
    part = recipe.interface.part
    with staging_dir(path.parent, path.name) as work_dir:
        progress(f"  tracing {part} to ONNX (opset {OPSET})")
        traced = work_dir / "traced.onnx"
        _trace(recipe.module_type(sam2).eval(), recipe, feeds, traced)
        staged = _stamp_metadata(traced, work_dir / path.name, metadata)
        progress(f"  validating {path.name} in onnxruntime")
        actual = run_onnxruntime(staged, recipe.graph_feeds(feeds))
        report = ValidationReport(path, compare_outputs(actual, expected), recipe.tolerances())
        progress(f"  {report.summary()}")
        if not report.passed:
            raise ExportValidationError(f"export rejected, nothing written: {report.summary()}")
        _move_into_place(staged, path)
    return report


def export_sam2_encoder(
    sam2: Sam2, path: Path, metadata: GraphMetadata, progress: Progress = print
) -> ValidationReport:
    """The encoder graph alone (tolerance 1e-3); see export_sam2_onnx."""
    return export_sam2_onnx(sam2, SAM2_ENCODER_RECIPE, path, metadata, progress)


def export_sam2_part(model, part: str, out_dir: Path, fmt: str, progress: Progress) -> list[ValidationReport]:
    """One SAM 2 graph of ``model`` (export/api.py's LoadedModel holding a Sam2) in ``fmt`` ("onnx",
    "openvino", "both"); the ONNX file is also the source of the IR, validated on the same feeds."""
    sam2 = model.sam
    recipe = SAM2_RECIPES[part]
    graph = GraphFile(sam2.spec.name, part, "fp32", "onnxruntime")
    metadata = sam2_graph_metadata(sam2, model.model_id, model.checkpoint_sha256, part)
    feeds, expected = _example_reference(sam2, recipe)
    onnx_path = graph.path(out_dir)
    reports = [export_sam2_onnx(sam2, recipe, onnx_path, metadata, progress, (feeds, expected))]
    if fmt in ("openvino", "both"):
        from sam_edge.export.openvino_export import export_openvino

        xml_path = graph.with_(backend="openvino").path(out_dir)
        graph_feeds = recipe.graph_feeds(feeds)
        reports.append(
            export_openvino(onnx_path, xml_path, metadata, graph_feeds, expected, recipe.tolerances(), progress)
        )
        if fmt == "openvino":
            onnx_path.unlink()  # only the intermediate: report just the files that stay
            reports = reports[1:]
    return reports


def _example_reference(sam2: Sam2, recipe: GraphRecipe) -> tuple[dict, dict]:
    feeds = sam2_example_feeds(recipe.interface.part, sam2)
    return feeds, sam2_reference(sam2, recipe, feeds)
