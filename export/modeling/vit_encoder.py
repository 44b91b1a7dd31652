"""SAM's ViT image encoder: patch embedding, windowed / global attention blocks with decomposed
relative positions, and a conv neck to the 256-channel embedding.

Frames: the input is the normalized, padded image [B, 3, S, S] (S = 1024); tokens live on a
[B, S/16, S/16, C] grid; the output embedding is [B, 256, S/16, S/16] float32.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from sam_edge.export.modeling.layers import LayerNorm2d, MLPBlock
from sam_edge.export.specs import ViTSpec


class ViTImageEncoder(nn.Module):
    """[B, 3, S, S] normalized image -> [B, out_chans, S/16, S/16] embedding."""

    def __init__(self, spec: ViTSpec, image_size: int = 1024, out_chans: int = 256) -> None:
        super().__init__()
        grid = image_size // spec.patch_size
        self.image_size = image_size
        self.patch_embed = PatchEmbed(spec.patch_size, spec.embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, spec.embed_dim))
        self.blocks = nn.ModuleList(
            Block(
                dim=spec.embed_dim,
                num_heads=spec.num_heads,
                mlp_ratio=spec.mlp_ratio,
                window_size=0 if index in spec.global_attn_indexes else spec.window_size,
                grid_size=grid,
            )
            for index in range(spec.depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(spec.embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(image) + self.pos_embed
        for block in self.blocks:
            tokens = block(tokens)
        return self.neck(tokens.permute(0, 3, 1, 2))


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection: [B, 3, S, S] -> [B, S/p, S/p, C] (channels last)."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.proj(image).permute(0, 2, 3, 1)


class Block(nn.Module):
    """Pre-norm transformer block; attention runs in windows unless ``window_size`` is 0 (global)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, window_size: int, grid_size: int) -> None:
        super().__init__()
        attention_size = window_size if window_size > 0 else grid_size
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, attention_size)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(dim, int(dim * mlp_ratio), nn.GELU)
        self.window_size = window_size

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        shortcut = tokens
        tokens = self.norm1(tokens)
        if self.window_size > 0:
            height, width = tokens.shape[1], tokens.shape[2]
            windows, padded_size = partition_windows(tokens, self.window_size)
            tokens = unpartition_windows(self.attn(windows), self.window_size, padded_size, (height, width))
        else:
            tokens = self.attn(tokens)
        tokens = shortcut + tokens
        return tokens + self.mlp(self.norm2(tokens))


class Attention(nn.Module):
    """Multi-head self-attention on a [B, H, W, C] grid with decomposed relative positions."""

    def __init__(self, dim: int, num_heads: int, size: int) -> None:
        super().__init__()
        head_dim = dim // num_heads
        self.num_heads = num_heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * size - 1, head_dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * size - 1, head_dim))

    # Heads per attention map computed at once; None = all. Each (batch, head) map is independent, so
    # chunking changes only how many [HW, HW] maps are alive at once (exported graphs, see
    # ``head_chunks``), never the result.
    head_chunk: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, _ = x.shape
        qkv = self.qkv(x).reshape(batch, height * width, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, batch * self.num_heads, height * width, -1).unbind(0)
        step = self.head_chunk
        if step and step < q.shape[0]:
            chunks = [
                self._attend(q[i : i + step], k[i : i + step], v[i : i + step], (height, width))
                for i in range(0, q.shape[0], step)
            ]
            out = torch.cat(chunks)
        else:
            out = self._attend(q, k, v, (height, width))
        out = out.view(batch, self.num_heads, height, width, -1)
        return self.proj(out.permute(0, 2, 3, 1, 4).reshape(batch, height, width, -1))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """q, k, v [n, HW, C] -> softmax(q k^T * scale + relative positions) v, [n, HW, C]."""
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = add_relative_positions(attn, q, self.rel_pos_h, self.rel_pos_w, size)
        return attn.softmax(dim=-1) @ v


def relative_position_table(size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """[size, size, C] table R with R[i, j] = rel_pos[i - j + size - 1] (query i, key j, same size)."""
    coords = torch.arange(size)
    return rel_pos[(coords[:, None] - coords[None, :]) + (size - 1)]


def add_relative_positions(
    attn: torch.Tensor, q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Add the decomposed (MViTv2) terms q·R_h[qh, kh] + q·R_w[qw, kw] to attn [B*heads, HW, HW].

    ``q`` is the unscaled query [B*heads, HW, C]. Query and key grids have the same size here.
    """
    height, width = size
    table_h = relative_position_table(height, rel_pos_h)
    table_w = relative_position_table(width, rel_pos_w)
    batch, _, dim = q.shape
    grid_q = q.reshape(batch, height, width, dim)
    rel_h = torch.einsum("bhwc,hkc->bhwk", grid_q, table_h)
    rel_w = torch.einsum("bhwc,wkc->bhwk", grid_q, table_w)
    attn = attn.view(batch, height, width, height, width) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
    return attn.view(batch, height * width, height * width)


def partition_windows(tokens: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """[B, H, W, C] -> [B * nW, window, window, C], zero-padding H and W up to multiples of ``window``."""
    batch, height, width, channels = tokens.shape
    pad_h = (window - height % window) % window
    pad_w = (window - width % window) % window
    if pad_h or pad_w:
        tokens = F.pad(tokens, (0, 0, 0, pad_w, 0, pad_h))
    padded_h, padded_w = height + pad_h, width + pad_w
    tokens = tokens.view(batch, padded_h // window, window, padded_w // window, window, channels)
    windows = tokens.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window, window, channels)
    return windows, (padded_h, padded_w)


def unpartition_windows(
    windows: torch.Tensor, window: int, padded_size: tuple[int, int], size: tuple[int, int]
) -> torch.Tensor:
    """Inverse of :func:`partition_windows`: [B * nW, window, window, C] -> [B, H, W, C]."""
    padded_h, padded_w = padded_size
    height, width = size
    batch = windows.shape[0] // (padded_h * padded_w // window // window)
    tokens = windows.view(batch, padded_h // window, padded_w // window, window, window, -1)
    tokens = tokens.permute(0, 1, 3, 2, 4, 5).contiguous().view(batch, padded_h, padded_w, -1)
    if padded_h > height or padded_w > width:
        tokens = tokens[:, :height, :width, :].contiguous()
    return tokens


@contextlib.contextmanager
def head_chunks(encoder: nn.Module, chunk: int | None) -> Iterator[None]:
    """Within the block, global-attention blocks of ``encoder`` compute ``chunk`` heads' maps at a time.

    Why: a global block of vit_b holds 12 maps of 4096 x 4096 floats (805 MB) per intermediate, and an
    exported graph keeps several alive at once (~3.9 GB peak RSS in onnxruntime); one head at a time
    keeps 67 MB per intermediate. Window blocks are left alone (their maps are small).
    """
    blocks = [block for block in getattr(encoder, "blocks", []) if isinstance(block, Block) and block.window_size == 0]
    previous = [block.attn.head_chunk for block in blocks]
    for block in blocks:
        block.attn.head_chunk = chunk
    try:
        yield
    finally:
        for block, value in zip(blocks, previous):
            block.attn.head_chunk = value
