"""SAM 2's mask decoder split into a per-image and a per-prompt stage, as SAM's (split_decoder.py).

SAM 2 runs SAM's two-way transformer, so the same rearrangements apply (the image stage precomputes
the first block's image-side keys, values and queries). What SAM 2 adds is handled here:
- the object-score token leads the output tokens; the prompt stage also returns its logit;
- the upscaling adds the high-res features after each transposed convolution. The prompt stage runs
  those convolutions channels-last, as per-token products whose rows are ordered (y, x, dy, dx), so the
  image stage hands it the features already in that order: high_res_skip_1 [1, N, 4, 64] (stride 8)
  and high_res_skip_0 [1, 16 N, 32] (stride 4). They depend on the image only, and the reorder costs
  nothing per prompt;
- the IoU head ends in a sigmoid where the config says so.
Shapes: N = 4096 image tokens of C = 256 channels; prompts [B, n, 2] in the squashed 1024 x 1024 frame.
"""

from __future__ import annotations

import torch
from torch import nn

from sam_edge.export.modeling.sam2 import Sam2
from sam_edge.export.modeling.split_decoder import check_split_layout, image_stage, prompt_stage, upscale_and_project


def stride8_skip(high_res_feats_1: torch.Tensor) -> torch.Tensor:
    """[1, C4, 2s, 2s] -> [1, s*s, 4, C4]: pixel (2y + dy, 2x + dx) at token (y, x), slot (dy, dx)."""
    _, channels, height, width = high_res_feats_1.shape
    side = height // 2
    grid = high_res_feats_1.reshape(1, channels, side, 2, side, 2)
    return grid.permute(0, 2, 4, 3, 5, 1).reshape(1, side * side, 4, channels)


def stride4_skip(high_res_feats_0: torch.Tensor) -> torch.Tensor:
    """[1, C8, 4s, 4s] -> [1, 16 s*s, C8], rows ordered (y, x, dy1, dx1, dy2, dx2) for pixel
    (4y + 2 dy1 + dy2, 4x + 2 dx1 + dx2): the order of the second upscaling product's rows."""
    _, channels, height, width = high_res_feats_0.shape
    side = height // 4
    grid = high_res_feats_0.reshape(1, channels, side, 2, 2, side, 2, 2)  # (c, y, dy1, dy2, x, dx1, dx2)
    return grid.permute(0, 2, 5, 3, 6, 4, 7, 1).reshape(1, side * side * 16, channels)


class Sam2DecoderImageStage(nn.Module):
    """(image_embed [1, C, 64, 64], high_res_feats_0, high_res_feats_1, mask_input [M, 1, 256, 256],
    has_mask_input [M]) -> SAM's five image-stage tensors + high_res_skip_0, high_res_skip_1."""

    def __init__(self, sam2: Sam2) -> None:
        super().__init__()
        self.sam2 = sam2

    def forward(self, image_embed, high_res_feats_0, high_res_feats_1, mask_input, has_mask_input):
        tensors = image_stage(
            self.sam2.sam_prompt_encoder,
            self.sam2.sam_mask_decoder.transformer,
            image_embed,
            mask_input,
            has_mask_input,
        )
        return (*tensors, stride4_skip(high_res_feats_0), stride8_skip(high_res_feats_1))


class Sam2DecoderPromptStage(nn.Module):
    """Image-stage outputs + point_coords [B, n, 2], point_labels [B, n] -> (iou_predictions [B, 4],
    low_res_masks [B, 4, 256, 256] unclamped, object_score_logits [B, 1]), as ``Sam2.decode``."""

    def __init__(self, sam2: Sam2) -> None:
        super().__init__()
        self.sam2 = sam2
        check_split_layout(sam2.sam_mask_decoder.transformer)

    def forward(
        self,
        image_tokens,
        image_pe,
        attn_keys,
        attn_values,
        attn_queries,
        high_res_skip_0,
        high_res_skip_1,
        point_coords,
        point_labels,
    ):
        decoder = self.sam2.sam_mask_decoder
        sparse = self.sam2.sam_prompt_encoder.embed_points(point_coords, point_labels)
        prompt = torch.cat((decoder.output_tokens(sparse.shape[0]), sparse), dim=1)
        queries, keys = prompt_stage(
            decoder.transformer, prompt, image_tokens, image_pe, attn_keys, attn_values, attn_queries
        )
        first = 1 if decoder.spec.pred_obj_scores else 0  # index of the IoU token
        mask_tokens = queries[:, first + 1 : first + 1 + decoder.num_mask_tokens]
        masks = upscale_and_project(decoder, keys, mask_tokens, (high_res_skip_0, high_res_skip_1))
        iou = decoder.iou_prediction_head(queries[:, first])
        iou = torch.sigmoid(iou) if decoder.spec.iou_prediction_use_sigmoid else iou
        if decoder.spec.pred_obj_scores:
            object_scores = decoder.pred_obj_score_head(queries[:, 0])
        else:  # the reference's stand-in, as Sam2MaskDecoder
            object_scores = torch.full((queries.shape[0], 1), 10.0, dtype=masks.dtype)
        return iou, masks, object_scores
