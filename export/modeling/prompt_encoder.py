"""SAM's prompt encoder: points, box corners and a low-res mask -> sparse and dense embeddings.

Frames: point and box coordinates are (x, y) pixels in the *input* frame (the resized image before
padding, longest side = image_size). Labels follow the official ONNX interface: 1 foreground,
0 background, -1 padding ("not a point"), 2 box top-left, 3 box bottom-right.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sam_edge.export.modeling.layers import LayerNorm2d


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier features of normalized (x, y) in [0, 1]: [..., 2] -> [..., 2 * num_feats]."""

    def __init__(self, num_feats: int) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn((2, num_feats)))

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        """coords [..., 2] (x, y) normalized to [0, 1] -> [..., C] float32."""
        projected = (2 * coords - 1) @ self.positional_encoding_gaussian_matrix
        projected = 2 * math.pi * projected
        return torch.cat([torch.sin(projected), torch.cos(projected)], dim=-1)

    def dense(self, height: int, width: int) -> torch.Tensor:
        """Encoding of every embedding-grid cell centre: [C, height, width]."""
        grid = torch.ones((height, width), dtype=torch.float32, device=self.positional_encoding_gaussian_matrix.device)
        y_embed = (grid.cumsum(dim=0) - 0.5) / height
        x_embed = (grid.cumsum(dim=1) - 0.5) / width
        return self.encode(torch.stack([x_embed, y_embed], dim=-1)).permute(2, 0, 1)


class PromptEncoder(nn.Module):
    """Embeds prompts for the mask decoder (state-dict names as the official PromptEncoder)."""

    num_point_embeddings = 4  # foreground, background, box top-left, box bottom-right

    def __init__(self, embed_dim: int, embedding_size: int, image_size: int, mask_in_chans: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.embedding_size = embedding_size
        self.image_size = image_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(self.num_point_embeddings))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def dense_positional_encoding(self) -> torch.Tensor:
        """[1, C, side, side] positional encoding of the image embedding grid."""
        return self.pe_layer.dense(self.embedding_size, self.embedding_size).unsqueeze(0)

    def embed_points(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """coords [B, N, 2] input-frame pixels, labels [B, N] float -> sparse embeddings [B, N, C].

        Written with masks and sums instead of boolean indexing so it exports to ONNX with a
        dynamic number of points and batches; numerically identical to the official encoder.
        """
        normalized = (coords + 0.5) / self.image_size  # +0.5: centre of the pixel
        embedding = self.pe_layer.encode(normalized)
        labels = labels.unsqueeze(-1)
        embedding = embedding * (labels != -1)
        embedding = embedding + self.not_a_point_embed.weight * (labels == -1)
        for index, point_embedding in enumerate(self.point_embeddings):
            embedding = embedding + point_embedding.weight * (labels == index)
        return embedding

    def embed_mask(self, mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> torch.Tensor:
        """mask_input [B, 1, 4*side, 4*side] logits, has_mask_input [B] in {0, 1} -> [B, C, side, side]."""
        weight = has_mask_input.reshape(-1, 1, 1, 1)
        no_mask = self.no_mask_embed.weight.reshape(1, -1, 1, 1)
        return weight * self.mask_downscaling(mask_input) + (1 - weight) * no_mask

    def embed_no_mask(self, batch: int) -> torch.Tensor:
        """Dense embedding when no mask is given: [batch, C, side, side]."""
        side = self.embedding_size
        return self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, side, side)
