"""SAM's two-way transformer: prompt tokens and image tokens attend to each other.

Shapes: image tokens [B, HW, C] (HW = 4096 for a 64x64 embedding), prompt/output tokens [B, T, C],
C = 256. Attention blocks in the token<->image directions work at C / downsample_rate internally.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sam_edge.export.modeling.layers import MLPBlock


class Attention(nn.Module):
    """Multi-head attention with separate q/k/v projections to ``dim / downsample_rate`` channels."""

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1) -> None:
        super().__init__()
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        if self.internal_dim % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide the internal dim ({self.internal_dim})")
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.v_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """[B, N, C] -> [B, heads, N, C / heads]."""
        batch, tokens, channels = x.shape
        return x.reshape(batch, tokens, self.num_heads, channels // self.num_heads).transpose(1, 2)

    @staticmethod
    def merge_heads(x: torch.Tensor) -> torch.Tensor:
        """[B, heads, N, c] -> [B, N, heads * c]."""
        batch, heads, tokens, head_dim = x.shape
        return x.transpose(1, 2).reshape(batch, tokens, heads * head_dim)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q = self.split_heads(self.q_proj(q))
        k = self.split_heads(self.k_proj(k))
        v = self.split_heads(self.v_proj(v))
        attn = (q @ k.permute(0, 1, 3, 2)) / math.sqrt(q.shape[-1])
        attn = torch.softmax(attn, dim=-1)
        return self.out_proj(self.merge_heads(attn @ v))


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, token->image cross-attention, token MLP, image->token cross-attention."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, downsample_rate: int, skip_first_layer_pe: bool) -> None:
        super().__init__()
        self.self_attn = Attention(dim, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = Attention(dim, num_heads, downsample_rate)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLPBlock(dim, mlp_dim, nn.ReLU)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = Attention(dim, num_heads, downsample_rate)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor, key_pe: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.skip_first_layer_pe:
            queries = self.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q=q, k=q, v=queries)
        queries = self.norm1(queries)

        q = queries + query_pe
        k = keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q=q, k=k, v=keys))
        queries = self.norm3(queries + self.mlp(queries))

        q = queries + query_pe
        k = keys + key_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(q=k, k=q, v=queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """image [B, C, h, w], image_pe [B, C, h, w], tokens [B, T, C] -> (tokens [B, T, C], image [B, hw, C])."""

    def __init__(self, depth: int, embedding_dim: int, num_heads: int, mlp_dim: int, downsample_rate: int = 2) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(embedding_dim, num_heads, mlp_dim, downsample_rate, skip_first_layer_pe=(i == 0))
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(embedding_dim, num_heads, downsample_rate)
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(
        self, image_embedding: torch.Tensor, image_pe: torch.Tensor, point_embedding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        keys = image_embedding.flatten(2).permute(0, 2, 1)
        key_pe = image_pe.flatten(2).permute(0, 2, 1)
        queries = point_embedding
        for layer in self.layers:
            queries, keys = layer(queries=queries, keys=keys, query_pe=point_embedding, key_pe=key_pe)
        attn_out = self.final_attn_token_to_image(q=queries + point_embedding, k=keys + key_pe, v=keys)
        queries = self.norm_final_attn(queries + attn_out)
        return queries, keys
