"""SAM 2's mask decoder: SAM's two-way transformer and hypernetwork heads, plus what SAM 2 adds.

Differences from SAM (export/modeling/mask_decoder.py), each switched by Sam2DecoderSpec:
- an object-score token goes first: tokens are [obj_score, iou, mask x4, prompt...]; it takes part in
  every attention, and ``pred_obj_score_head`` reads it;
- the upscaling adds the projected stride-8 and stride-4 image features (high_res_feats_1 / _0, batch 1,
  broadcast over prompts) after each transposed convolution;
- the IoU head ends in a sigmoid;
- the transformer's token MLPs are named ``mlp.layers.{0,1}`` (SAM: ``mlp.lin1/lin2``).

Shapes: image_embed [1, 256, 64, 64]; sparse [B, N, 256]; dense [B or 1, 256, 64, 64]; outputs all four
masks [B, 4, 256, 256] (token 0 single-mask, 1..3 multimask), IoU [B, 4], object score logits [B, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from sam_edge.export.modeling.layers import LayerNorm2d
from sam_edge.export.modeling.mask_decoder import MLP
from sam_edge.export.modeling.two_way_transformer import TwoWayTransformer
from sam_edge.export.sam2_specs import Sam2DecoderSpec


def build_sam2_transformer(spec: Sam2DecoderSpec) -> TwoWayTransformer:
    """SAM's TwoWayTransformer (the same math) with SAM 2's token-MLP names: ReLU MLPs with ``layers``."""
    transformer = TwoWayTransformer(
        spec.transformer_depth, spec.transformer_dim, spec.transformer_heads, spec.transformer_mlp_dim
    )
    for layer in transformer.layers:
        layer.mlp = MLP(spec.transformer_dim, spec.transformer_mlp_dim, spec.transformer_dim, 2)
    return transformer


class Sam2MaskDecoder(nn.Module):
    """All ``num_multimask_outputs + 1`` masks for every prompt; state-dict names as ``sam_mask_decoder``."""

    def __init__(self, spec: Sam2DecoderSpec) -> None:
        super().__init__()
        dim = spec.transformer_dim
        self.spec = spec
        self.num_mask_tokens = spec.num_multimask_outputs + 1
        self.transformer = build_sam2_transformer(spec)
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        if spec.pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        if spec.use_high_res_features:
            self.conv_s0 = nn.Conv2d(dim, dim // 8, kernel_size=1)
            self.conv_s1 = nn.Conv2d(dim, dim // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(MLP(dim, dim, dim // 8, 3) for _ in range(self.num_mask_tokens))
        self.iou_prediction_head = MLP(dim, spec.iou_head_hidden_dim, self.num_mask_tokens, spec.iou_head_depth)
        if spec.pred_obj_scores:
            self.pred_obj_score_head = MLP(dim, dim, 1, 3) if spec.pred_obj_scores_mlp else nn.Linear(dim, 1)

    def project_high_res(self, level0: torch.Tensor, level1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Neck levels L0 [1, 256, 256, 256], L1 [1, 256, 128, 128] -> high_res_feats_0 [1, 32, ...], _1 [1, 64, ...].

        Prompt-independent, so it runs once per image (in the encoder graph), as the reference does.
        """
        return self.conv_s0(level0), self.conv_s1(level1)

    def output_tokens(self, batch: int) -> torch.Tensor:
        """[B, 5 or 6, C]: (object-score,) IoU and mask tokens, in the reference's order."""
        tokens = [self.iou_token.weight, self.mask_tokens.weight]
        if self.spec.pred_obj_scores:
            tokens.insert(0, self.obj_score_token.weight)
        return torch.cat(tokens, dim=0).unsqueeze(0).expand(batch, -1, -1)

    def upscale(self, src: torch.Tensor, high_res: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """Image tokens [B, C, 64, 64] -> [B, C/8, 256, 256]; the skips join before the norm / activation."""
        conv1, norm1, act1, conv2, act2 = self.output_upscaling
        if high_res is None:
            return act2(conv2(act1(norm1(conv1(src)))))
        feat_s0, feat_s1 = high_res
        upscaled = act1(norm1(conv1(src) + feat_s1))
        return act2(conv2(upscaled) + feat_s0)

    def forward(
        self,
        image_embed: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        high_res: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (mask logits [B, 4, 4h, 4w], IoU predictions [B, 4], object score logits [B, 1])."""
        batch = sparse_prompt_embeddings.shape[0]
        first = 1 if self.spec.pred_obj_scores else 0  # index of the IoU token
        tokens = torch.cat((self.output_tokens(batch), sparse_prompt_embeddings), dim=1)
        # Broadcast (not repeat_interleave) keeps the prompt batch dynamic in exported graphs; same values.
        src = (image_embed + dense_prompt_embeddings).expand(batch, -1, -1, -1)
        pos_src = image_pe.expand(batch, -1, -1, -1)
        _, channels, height, width = src.shape

        hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, first, :]
        mask_tokens_out = hs[:, first + 1 : first + 1 + self.num_mask_tokens, :]

        upscaled = self.upscale(src.transpose(1, 2).reshape(batch, channels, height, width), high_res)
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        _, up_channels, up_height, up_width = upscaled.shape
        masks = (hyper_in @ upscaled.reshape(batch, up_channels, up_height * up_width)).reshape(
            batch, -1, up_height, up_width
        )
        iou = self.iou_prediction_head(iou_token_out)
        iou = torch.sigmoid(iou) if self.spec.iou_prediction_use_sigmoid else iou
        if self.spec.pred_obj_scores:
            object_scores = self.pred_obj_score_head(hs[:, 0, :])
        else:  # the reference's stand-in: "object present" (sigmoid(10) ~ 1)
            object_scores = torch.full((batch, 1), 10.0, dtype=masks.dtype)
        return masks, iou, object_scores


def stability_scores(mask_logits: torch.Tensor, delta: float) -> torch.Tensor:
    """[..., H, W] logits -> [...]: area(logits > delta) / area(logits > -delta), 1 where that area is 0."""
    flat = mask_logits.flatten(-2)
    intersection = (flat > delta).sum(-1).float()
    union = (flat > -delta).sum(-1).float()
    return torch.where(union > 0, intersection / union, torch.ones_like(union))


def select_masks(
    masks: torch.Tensor, iou: torch.Tensor, multimask_output: bool, spec: Sam2DecoderSpec
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The reference's output choice from all four tokens: (masks [B, C, H, W], IoU [B, C], tokens [B, C]).

    Multimask: tokens 1..3. Single mask: token 0, unless the dynamic fallback is on and token 0's
    stability is below the threshold; then the multimask token with the highest IoU (mask and score).
    """
    batch = masks.shape[0]
    if multimask_output:
        tokens = torch.arange(1, masks.shape[1]).expand(batch, -1)
        return masks[:, 1:], iou[:, 1:], tokens
    single = torch.zeros(batch, 1, dtype=torch.long)
    if spec.dynamic_multimask_via_stability:
        best = torch.argmax(iou[:, 1:], dim=-1, keepdim=True) + 1
        stability = stability_scores(masks[:, :1], spec.dynamic_multimask_stability_delta)
        single = torch.where(stability >= spec.dynamic_multimask_stability_thresh, single, best)
    rows = torch.arange(batch)[:, None]
    return masks[rows, single], iou[rows, single], single


def clamp_low_res(masks: torch.Tensor) -> torch.Tensor:
    """SAM2ImagePredictor returns low-res logits clamped to [-32, 32]; full-res masks use the unclamped ones."""
    return torch.clamp(masks, -32.0, 32.0)
