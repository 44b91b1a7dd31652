"""Hiera's blocks (SAM 2's image trunk): windowed multi-head attention with optional q-pooling.

Frames: tokens are channels-last maps [B, H, W, C]. Windows are square, cut from the top-left corner;
a map that the window does not divide is zero-padded at the bottom/right *before* the qkv projection,
so padded keys/values equal the qkv bias and take part in the softmax (nothing is masked), as in SAM 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def partition_windows(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """[B, H, W, C] -> ([B * nh * nw, window, window, C], padded (H, W)); zero-pads bottom/right."""
    batch, height, width, channels = x.shape
    pad_h, pad_w = (-height) % window, (-width) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    padded = (height + pad_h, width + pad_w)
    x = x.reshape(batch, padded[0] // window, window, padded[1] // window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, channels), padded


def merge_windows(windows: torch.Tensor, window: int, padded: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """Inverse of partition_windows: [B * nh * nw, window, window, C] -> [B, H, W, C], padding cropped."""
    rows, cols = padded[0] // window, padded[1] // window
    batch = windows.shape[0] // (rows * cols)
    x = windows.reshape(batch, rows, cols, window, window, -1).permute(0, 1, 3, 2, 4, 5)
    x = x.reshape(batch, padded[0], padded[1], -1)
    return x[:, : size[0], : size[1], :] if padded != tuple(size) else x


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """[B, H, W, C] -> [B, H/2, W/2, C] by 2x2 max pooling (floor for odd sides)."""
    return F.max_pool2d(x.permute(0, 3, 1, 2), kernel_size=2, stride=2).permute(0, 2, 3, 1)


class MultiScaleAttention(nn.Module):
    """Attention over each [h, w] map of a batch of windows; ``pool_q`` halves the query (and output) grid."""

    def __init__(self, dim: int, dim_out: int, num_heads: int, pool_q: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.pool_q = pool_q
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, h, w, dim] -> [N, h', w', dim_out] (h' = h/2 with pool_q)."""
        batch, height, width, _ = x.shape
        qkv = self.qkv(x).reshape(batch, height * width, 3, self.num_heads, -1)
        q, k, v = qkv.unbind(2)  # [N, hw, heads, head_dim]
        if self.pool_q:
            q = max_pool_2x2(q.reshape(batch, height, width, -1))
            height, width = q.shape[1:3]
            q = q.reshape(batch, height * width, self.num_heads, -1)
        # SDPA (scale 1/sqrt(head_dim)) as the reference: same numerics, and its CPU kernel never holds
        # the whole [hw, hw] map of a global block (4 heads x 4096^2 in hiera_t).
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.proj(out.transpose(1, 2).reshape(batch, height, width, -1))


class HieraMLP(nn.Module):
    """Linear -> GELU (exact) -> Linear; ``layers.{0,1}`` as the official state dict."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, hidden), nn.Linear(hidden, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[1](F.gelu(self.layers[0](x)))


class HieraBlock(nn.Module):
    """Pre-norm attention + MLP block; a stage's first block also changes the width and pools by 2.

    ``window`` is 0 for global attention. With ``pool_q`` the block's output windows are window/2.
    """

    def __init__(self, dim: int, dim_out: int, num_heads: int, window: int, pool_q: bool, mlp_ratio: float) -> None:
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.window = window
        self.pool_q = pool_q
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiScaleAttention(dim, dim_out, num_heads, pool_q)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = HieraMLP(dim_out, int(dim_out * mlp_ratio))
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, H, W, dim] -> [B, H', W', dim_out]."""
        shortcut = x
        x = self.norm1(x)
        if self.dim != self.dim_out:
            # The widened shortcut projects the *normalized* input (as the reference), then pools.
            shortcut = self.proj(x)
            shortcut = max_pool_2x2(shortcut) if self.pool_q else shortcut
        if self.window > 0:
            size = x.shape[1:3]
            x, padded = partition_windows(x, self.window)
        x = self.attn(x)
        if self.window > 0:
            window = self.window // 2 if self.pool_q else self.window
            if self.pool_q:  # the pooled grid, padded to whole (halved) windows
                size = shortcut.shape[1:3]
                padded = (size[0] + (-size[0]) % window, size[1] + (-size[1]) % window)
            x = merge_windows(x, window, padded, size)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))
