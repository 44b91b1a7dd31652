"""Export the SAM 2 image encoder to ONNX, validated against our PyTorch modeling.

The graph computes everything SAM2ImagePredictor.set_image keeps, so nothing prompt-independent is left
for the decoder: image [1, 3, 1024, 1024] (normalized, squashed to 1024 x 1024, no padding) ->
image_embed [1, 256, 64, 64] (with no_mem_embed added), high_res_feats_0 [1, 32, 256, 256] and
high_res_feats_1 [1, 64, 128, 128] (the decoder's conv_s0 / conv_s1 applied).

SAM2_ENCODER is declared the way runtime/interface.py declares SAM's graphs; it lives here until the
runtime runs SAM 2 (runtime.metadata.PARTS does not list "sam2_encoder" yet, so the runtime does not
open these graphs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from sam_edge import __version__
from sam_edge.export.graphs import GraphRecipe
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
from sam_edge.runtime.atomic_write import staging_dir
from sam_edge.runtime.interface import GraphInterface, TensorDecl
from sam_edge.runtime.metadata import GraphMetadata

SAM2_ENCODER = GraphInterface(
    part="sam2_encoder",
    inputs=(TensorDecl("image", (1, 3, 1024, 1024)),),  # (x / 255 - ImageNet mean) / std, squashed, not padded
    outputs=(
        TensorDecl("image_embed", (1, 256, 64, 64)),
        TensorDecl("high_res_feats_0", (1, 32, 256, 256)),
        TensorDecl("high_res_feats_1", (1, 64, 128, 128)),
    ),
)
SAM2_PIXEL_MEAN = (123.675, 116.28, 103.53)  # ImageNet's (0.485, 0.456, 0.406) x 255, as SAM's
SAM2_PIXEL_STD = (58.395, 57.12, 57.375)


class Sam2EncoderGraph(nn.Module):
    """image -> (image_embed, high_res_feats_0, high_res_feats_1)."""

    def __init__(self, sam2: Sam2) -> None:
        super().__init__()
        self.sam2 = sam2

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.sam2.encode_image(image)


# 1e-3 as SAM's encoders: float32 kernels of another engine, over ~12-48 blocks.
SAM2_ENCODER_RECIPE = GraphRecipe(SAM2_ENCODER, Sam2EncoderGraph, atol=1e-3)


def sam2_graph_metadata(sam2: Sam2, model_id: str, checkpoint_sha256: str = "") -> GraphMetadata:
    """The record stamped into a SAM 2 graph: SAM's fields, plus how SAM 2 differs in ``extra``."""
    spec = sam2.spec
    return GraphMetadata(
        model_type=spec.name,
        model_id=model_id,
        part=SAM2_ENCODER.part,
        image_size=spec.image_size,
        embedding_shape=spec.feature_shapes["image_embed"],
        pixel_mean=SAM2_PIXEL_MEAN,
        pixel_std=SAM2_PIXEL_STD,
        opset=OPSET,
        exporter=f"sam-edge {__version__} / torch {torch.__version__}",
        checkpoint_sha256=checkpoint_sha256,
        spec=spec.to_dict(),
        extra={
            "family": "sam2",
            "resize": "squash",  # bilinear to image_size x image_size on [0, 1] floats, antialiased; no padding
            "mask_postprocess": "direct",  # 256 x 256 logits bilinear straight to H x W; no crop
            "feature_shapes": {name: list(shape) for name, shape in spec.feature_shapes.items()},
        },
    )


def example_image(seed: int = 0) -> dict[str, np.ndarray]:
    return {"image": np.random.default_rng(seed).standard_normal((1, 3, 1024, 1024)).astype(np.float32)}


def export_sam2_encoder(
    sam2: Sam2, path: Path, metadata: GraphMetadata, progress: Progress = print
) -> ValidationReport:
    """Write the encoder graph to ``path`` (.onnx) if it agrees with PyTorch within 1e-3 on every output.

    Nothing is written under ``path`` otherwise (ExportValidationError): the graph is staged beside it.
    """
    recipe = SAM2_ENCODER_RECIPE
    feeds = example_image()
    with torch.no_grad():
        outputs = recipe.reference_module(sam2)(torch.from_numpy(feeds["image"]))
    expected = {name: out.numpy() for name, out in zip(SAM2_ENCODER.output_names, outputs)}
    with staging_dir(path.parent, path.name) as work_dir:
        progress(f"  tracing {SAM2_ENCODER.part} to ONNX (opset {OPSET})")
        traced = work_dir / "traced.onnx"
        _trace(recipe.module_type(sam2).eval(), recipe, feeds, traced)
        staged = _stamp_metadata(traced, work_dir / path.name, metadata)
        progress(f"  validating {path.name} in onnxruntime")
        actual = run_onnxruntime(staged, feeds)
        report = ValidationReport(path, compare_outputs(actual, expected), recipe.tolerances())
        progress(f"  {report.summary()}")
        if not report.passed:
            raise ExportValidationError(f"export rejected, nothing written: {report.summary()}")
        _move_into_place(staged, path)
    return report
