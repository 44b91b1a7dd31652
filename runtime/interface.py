"""The graphs' inputs and outputs, declared once: export derives its arguments and dynamic axes from
these, validation compares these outputs, and the runtime builds its feeds with these names.

Shapes use ints for fixed sizes and strings for dynamic axes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorDecl:
    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"

    def dynamic_axes(self) -> dict[int, str]:
        return {axis: size for axis, size in enumerate(self.shape) if isinstance(size, str)}


@dataclass(frozen=True)
class GraphInterface:
    part: str
    inputs: tuple[TensorDecl, ...]
    outputs: tuple[TensorDecl, ...]

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {t.name: t.dynamic_axes() for t in self.inputs + self.outputs if t.dynamic_axes()}


ENCODER = GraphInterface(
    part="encoder",
    inputs=(TensorDecl("image", (1, 3, 1024, 1024)),),  # normalized, zero-padded RGB
    outputs=(TensorDecl("image_embeddings", (1, 256, 64, 64)),),
)

_DECODER_INPUTS = (
    TensorDecl("image_embeddings", (1, 256, 64, 64)),
    TensorDecl("point_coords", ("batch", "num_points", 2)),  # input frame, (x, y)
    TensorDecl("point_labels", ("batch", "num_points")),  # 1 fg, 0 bg, -1 pad, 2/3 box corners
    TensorDecl("mask_input", ("mask_batch", 1, 256, 256)),
    TensorDecl("has_mask_input", ("mask_batch",)),
)

DECODER = GraphInterface(
    part="decoder",
    inputs=_DECODER_INPUTS,
    outputs=(
        TensorDecl("iou_predictions", ("batch", 4)),
        TensorDecl("low_res_masks", ("batch", 4, 256, 256)),
    ),
)

# SAM's own export (scripts/export_onnx_model.py): upsamples every mask to orig_im_size in the graph.
DECODER_OFFICIAL = GraphInterface(
    part="decoder_official",
    inputs=_DECODER_INPUTS + (TensorDecl("orig_im_size", (2,)),),
    outputs=(
        TensorDecl("masks", ("batch", 4, "height", "width")),
        TensorDecl("iou_predictions", ("batch", 4)),
        TensorDecl("low_res_masks", ("batch", 4, 256, 256)),
    ),
)

# The decoder split for speed (export/modeling/split_decoder.py): the image stage runs once per image
# (mask_batch 1, no mask) or once per prompt with a mask input; the prompt stage runs per prompt and
# broadcasts image-stage outputs of mask_batch 1 over the prompt batch.
_IMAGE_STAGE_OUTPUTS = (
    TensorDecl("image_tokens", ("mask_batch", 4096, 256)),  # embedding + dense prompt, [N, C] per image
    TensorDecl("image_pe", (1, 4096, 256)),
    TensorDecl("attn_keys", ("mask_batch", 8, 16, 4096)),  # block 1, token->image keys, per head, transposed
    TensorDecl("attn_values", ("mask_batch", 8, 4096, 16)),  # block 1, token->image values, per head
    TensorDecl("attn_queries", ("mask_batch", 4096, 128)),  # block 1, image->token queries
)

DECODER_IMAGE = GraphInterface(
    part="decoder_image",
    inputs=(_DECODER_INPUTS[0], _DECODER_INPUTS[3], _DECODER_INPUTS[4]),
    outputs=_IMAGE_STAGE_OUTPUTS,
)

DECODER_PROMPT = GraphInterface(
    part="decoder_prompt",
    inputs=_IMAGE_STAGE_OUTPUTS + (_DECODER_INPUTS[1], _DECODER_INPUTS[2]),
    outputs=DECODER.outputs,
)

# SAM 2 / 2.1 image mode (docs/sam2.md). The encoder keeps everything SAM2ImagePredictor.set_image keeps;
# the decoder takes its three outputs under the same names, then SAM's prompt inputs, and returns all
# four masks unclamped (the runtime chooses the single mask and clamps the low-res logits it returns).
SAM2_ENCODER = GraphInterface(
    part="sam2_encoder",
    inputs=(TensorDecl("image", (1, 3, 1024, 1024)),),  # (x / 255 - ImageNet mean) / std, squashed, not padded
    outputs=(
        TensorDecl("image_embed", (1, 256, 64, 64)),  # stride 16, no_mem_embed added
        TensorDecl("high_res_feats_0", (1, 32, 256, 256)),  # stride 4, conv_s0 applied
        TensorDecl("high_res_feats_1", (1, 64, 128, 128)),  # stride 8, conv_s1 applied
    ),
)

SAM2_DECODER = GraphInterface(
    part="sam2_decoder",
    inputs=SAM2_ENCODER.outputs + _DECODER_INPUTS[1:],  # prompts in the squashed 1024 x 1024 frame
    outputs=DECODER.outputs + (TensorDecl("object_score_logits", ("batch", 1)),),  # iou_predictions: sigmoid
)

# SAM 2's decoder split as SAM's (export/modeling/sam2_split_decoder.py): SAM's image-stage tensors plus
# the two high-res features reordered to the prompt stage's channels-last upscaling rows (image only).
_SAM2_IMAGE_STAGE_OUTPUTS = _IMAGE_STAGE_OUTPUTS + (
    TensorDecl("high_res_skip_0", (1, 65536, 32)),  # high_res_feats_0, rows (y, x, dy1, dx1, dy2, dx2)
    TensorDecl("high_res_skip_1", (1, 4096, 4, 64)),  # high_res_feats_1, token (y, x), slot (dy, dx)
)

SAM2_DECODER_IMAGE = GraphInterface(
    part="sam2_decoder_image",
    inputs=SAM2_ENCODER.outputs + (_DECODER_INPUTS[3], _DECODER_INPUTS[4]),
    outputs=_SAM2_IMAGE_STAGE_OUTPUTS,
)

SAM2_DECODER_PROMPT = GraphInterface(
    part="sam2_decoder_prompt",
    inputs=_SAM2_IMAGE_STAGE_OUTPUTS + (_DECODER_INPUTS[1], _DECODER_INPUTS[2]),
    outputs=SAM2_DECODER.outputs,
)

# The graph part behind each role of a predictor, for a SAM 2 model directory.
SAM2_PARTS = {
    "encoder": SAM2_ENCODER.part,
    "decoder": SAM2_DECODER.part,
    "decoder_image": SAM2_DECODER_IMAGE.part,
    "decoder_prompt": SAM2_DECODER_PROMPT.part,
}

INTERFACES = {
    i.part: i
    for i in (
        ENCODER,
        DECODER,
        DECODER_OFFICIAL,
        DECODER_IMAGE,
        DECODER_PROMPT,
        SAM2_ENCODER,
        SAM2_DECODER,
        SAM2_DECODER_IMAGE,
        SAM2_DECODER_PROMPT,
    )
}
