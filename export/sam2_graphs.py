"""The torch modules behind SAM 2's two graphs, their example feeds, tolerances and metadata record.

Names and dynamic axes come from runtime/interface.py (SAM2_ENCODER, SAM2_DECODER); the modules only
compute. The decoder keeps SAM's ONNX decoder interface (point_coords, point_labels, mask_input,
has_mask_input -> iou_predictions, low_res_masks with all four tokens) and takes the encoder's three
outputs under their own names; it also returns SAM 2's object score logits. What the official predictor
does after the decoder (the single-mask choice, the clamp, 256 -> H x W upsampling) is the runtime's,
told by the metadata record (``sam2_graph_metadata``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sam_edge import __version__
from sam_edge.export.graphs import GraphRecipe
from sam_edge.export.modeling.sam2 import Sam2
from sam_edge.export.modeling.sam2_split_decoder import Sam2DecoderImageStage, Sam2DecoderPromptStage
from sam_edge.export.onnx_export import OPSET
from sam_edge.runtime.interface import SAM2_DECODER, SAM2_DECODER_IMAGE, SAM2_DECODER_PROMPT, SAM2_ENCODER
from sam_edge.runtime.metadata import GraphMetadata

SAM2_PIXEL_MEAN = (123.675, 116.28, 103.53)  # ImageNet's (0.485, 0.456, 0.406) x 255, as SAM's
SAM2_PIXEL_STD = (58.395, 57.12, 57.375)
LOW_RES_CLAMP = 32.0  # SAM2ImagePredictor returns low-res logits clamped to [-32, 32]


class Sam2EncoderGraph(nn.Module):
    """image [1, 3, 1024, 1024] -> (image_embed, high_res_feats_0, high_res_feats_1).

    The trunk's positional embedding (the 7x7 / 14x14 table resized bicubic to 256 x 256, plus the window
    table tiled) depends only on the weights, so the graph holds it computed, as a [1, 256, 256, C]
    constant (25 MB for hiera_t): OpenVINO folds an in-graph bicubic Resize with a slow path, and
    compiling the sam2.1_small encoder took ~56 s of CPU instead of 0.7 s. Same values (torch computes
    them either way).
    """

    def __init__(self, sam2: Sam2) -> None:
        super().__init__()
        self.sam2 = sam2
        side = sam2.spec.image_size // 4
        with torch.no_grad():
            folded = sam2.image_encoder.trunk.positional_embedding(side, side)
        self.register_buffer("positional_embedding", folded, persistent=False)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        trunk = self.sam2.image_encoder.trunk
        trunk.positional_embedding = self._folded_positional_embedding  # shadows the method while tracing
        try:
            return self.sam2.encode_image(image)
        finally:
            del trunk.positional_embedding  # the method again

    def _folded_positional_embedding(self, height: int, width: int) -> torch.Tensor:
        if tuple(self.positional_embedding.shape[1:3]) != (height, width):
            raise ValueError(f"the folded positional embedding is {tuple(self.positional_embedding.shape)}")
        return self.positional_embedding


class Sam2DecoderGraph(nn.Module):
    """The encoder's three outputs + SAM's prompt inputs (1024 x 1024 squashed frame, padding point given)
    -> (iou_predictions [B, 4], low_res_masks [B, 4, 256, 256] unclamped, object_score_logits [B, 1])."""

    def __init__(self, sam2: Sam2) -> None:
        super().__init__()
        self.sam2 = sam2

    def forward(
        self, image_embed, high_res_feats_0, high_res_feats_1, point_coords, point_labels, mask_input, has_mask_input
    ):
        masks, iou, object_scores = self.sam2.decode(
            image_embed, high_res_feats_0, high_res_feats_1, point_coords, point_labels, mask_input, has_mask_input
        )
        return iou, masks, object_scores


# 1e-3 as SAM's encoders (float32 kernels of another engine over ~12-48 blocks); 1e-4 as SAM's decoder.
SAM2_ENCODER_RECIPE = GraphRecipe(SAM2_ENCODER, Sam2EncoderGraph, atol=1e-3)
SAM2_DECODER_RECIPE = GraphRecipe(SAM2_DECODER, Sam2DecoderGraph, atol=1e-4)
SAM2_DECODER_IMAGE_RECIPE = GraphRecipe(SAM2_DECODER_IMAGE, Sam2DecoderImageStage, atol=1e-4)
# As SAM's prompt stage: checked against the whole decoder (the split's reordered products move logits ~1e-5).
SAM2_DECODER_PROMPT_RECIPE = GraphRecipe(
    SAM2_DECODER_PROMPT,
    Sam2DecoderPromptStage,
    atol=1e-3,
    reference_type=Sam2DecoderGraph,
    reference_inputs=tuple(SAM2_DECODER.input_names),
)
SAM2_RECIPES = {
    recipe.interface.part: recipe
    for recipe in (SAM2_ENCODER_RECIPE, SAM2_DECODER_RECIPE, SAM2_DECODER_IMAGE_RECIPE, SAM2_DECODER_PROMPT_RECIPE)
}


def sam2_example_feeds(part: str, sam2: Sam2, seed: int = 0) -> dict[str, np.ndarray]:
    """Feeds that exercise a graph: a random image, or random features and 2 prompts of 4 tokens each
    (a box with a click, and three clicks; both end in the padding point), one with a mask input."""
    if part == SAM2_DECODER_PROMPT.part:  # the decoder's feeds (its reference) + the image stage's outputs
        feeds = sam2_example_feeds(SAM2_DECODER.part, sam2, seed)
        with torch.no_grad():
            outputs = Sam2DecoderImageStage(sam2)(*(torch.from_numpy(feeds[n]) for n in SAM2_DECODER_IMAGE.input_names))
        return feeds | {name: out.numpy() for name, out in zip(SAM2_DECODER_IMAGE.output_names, outputs)}
    rng = np.random.default_rng(seed)
    side = sam2.spec.image_size
    if part == SAM2_ENCODER.part:
        return {"image": rng.standard_normal((1, 3, side, side)).astype(np.float32)}
    feeds = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in sam2.spec.feature_shapes.items()}
    coords = rng.uniform(0, side * 0.7, size=(2, 4, 2)).astype(np.float32)
    coords[0, 1] = coords[0, 0] + 50.0  # box corners first, as SAM 2 orders them
    coords[:, 3] = 0.0
    feeds |= {
        "point_coords": coords,
        "point_labels": np.array([[2, 3, 1, -1], [1, 0, 1, -1]], dtype=np.float32),
        "mask_input": rng.standard_normal((2, 1, 256, 256)).astype(np.float32),
        "has_mask_input": np.array([1, 0], dtype=np.float32),
    }
    if part == SAM2_DECODER_IMAGE.part:
        return {name: feeds[name] for name in SAM2_DECODER_IMAGE.input_names}
    return feeds


def sam2_graph_metadata(sam2: Sam2, model_id: str, checkpoint_sha256: str = "", part: str = "sam2_encoder"):
    """The record stamped into a SAM 2 graph: SAM's fields, plus in ``extra`` what the runtime does
    differently (the same record for both parts but ``part``)."""
    spec = sam2.spec
    decoder = spec.decoder
    return GraphMetadata(
        model_type=spec.name,
        model_id=model_id,
        part=part,
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
            "single_mask": {  # token 0 unless its low-res stability is below thresh: then the best of 1..3
                "dynamic": decoder.dynamic_multimask_via_stability,
                "stability_delta": decoder.dynamic_multimask_stability_delta,
                "stability_thresh": decoder.dynamic_multimask_stability_thresh,
            },
            "low_res_clamp": LOW_RES_CLAMP,  # on the returned low-res logits only; full-res ones are unclamped
        },
    )
