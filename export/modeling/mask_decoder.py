"""SAM's mask decoder: output tokens + prompt tokens + image embedding -> mask logits and IoU scores.

Shapes: image_embeddings [1 or B, 256, 64, 64]; sparse prompt embeddings [B, N, 256]; dense prompt
embeddings [B, 256, 64, 64]. Outputs low-res mask logits [B, 4, 256, 256] (token 0 = single-mask
output, tokens 1..3 = multimask outputs) and IoU predictions [B, 4], both float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_edge.export.modeling.layers import LayerNorm2d
from sam_edge.export.modeling.two_way_transformer import TwoWayTransformer
from sam_edge.export.specs import DecoderSpec


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip(dims_in, dims_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


class MaskDecoder(nn.Module):
    """Predicts all ``num_multimask_outputs + 1`` masks for every prompt in the batch."""

    def __init__(self, spec: DecoderSpec) -> None:
        super().__init__()
        dim = spec.transformer_dim
        self.num_mask_tokens = spec.num_multimask_outputs + 1
        self.transformer = TwoWayTransformer(
            spec.transformer_depth, dim, spec.transformer_heads, spec.transformer_mlp_dim
        )
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(MLP(dim, dim, dim // 8, 3) for _ in range(self.num_mask_tokens))
        self.iou_prediction_head = MLP(dim, spec.iou_head_hidden_dim, self.num_mask_tokens, spec.iou_head_depth)

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (low-res mask logits [B, 4, 4h, 4w], IoU predictions [B, 4])."""
        batch = sparse_prompt_embeddings.shape[0]
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        output_tokens = output_tokens.unsqueeze(0).expand(batch, -1, -1)
        tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)

        # One copy of the image tokens per prompt: the transformer updates them per prompt. Broadcasting
        # (not repeat_interleave) keeps the prompt batch dynamic in exported graphs.
        src = (image_embeddings + dense_prompt_embeddings).expand(batch, -1, -1, -1)
        pos_src = image_pe.expand(batch, -1, -1, -1)
        _, channels, height, width = src.shape

        hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens, :]

        # Upscale the image tokens and dot them with one hypernetwork vector per mask token.
        upscaled = self.output_upscaling(src.transpose(1, 2).reshape(batch, channels, height, width))
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        _, up_channels, up_height, up_width = upscaled.shape
        masks = hyper_in @ upscaled.reshape(batch, up_channels, up_height * up_width)
        masks = masks.reshape(batch, -1, up_height, up_width)
        return masks, self.iou_prediction_head(iou_token_out)
