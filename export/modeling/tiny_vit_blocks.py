"""Building blocks of MobileSAM's TinyViT encoder (state-dict names follow the official code).

Two layouts travel between blocks: a feature *map* [B, C, H, W] (convolutions) and *tokens* [B, H*W, C]
in row-major order (attention and MLP). All tensors are float32. Spatial sizes are fixed Python ints given
at construction, so traced graphs hold constant shapes and only the batch axis stays free (written as -1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def tokens_to_map(x: torch.Tensor, map_shape: tuple[int, int, int]) -> torch.Tensor:
    """[B, H*W, C] row-major tokens -> [B, C, H, W] map; ``map_shape`` is (C, H, W)."""
    return x.transpose(1, 2).reshape(-1, *map_shape)


def map_to_tokens(x: torch.Tensor, map_shape: tuple[int, int, int]) -> torch.Tensor:
    """[B, C, H, W] map -> [B, H*W, C] row-major tokens; ``map_shape`` is (C, H, W).

    Both helpers reshape to constant sizes (not ``flatten``/``unflatten``) so the exported graph needs no
    Shape arithmetic.
    """
    channels, height, width = map_shape
    return x.reshape(-1, channels, height * width).transpose(1, 2)


class Conv2dBN(nn.Module):
    """Bias-free Conv2d followed by BatchNorm2d (eval statistics): [B, C_in, H, W] -> [B, C_out, H', W']."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.c = nn.Conv2d(in_chans, out_chans, kernel_size, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chans)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.c(x))


class MBConv(nn.Module):
    """Inverted residual (1x1 expand, 3x3 depthwise, 1x1 project), GELU after the sum.

    [B, C, H, W] -> [B, C, H, W].
    """

    def __init__(self, chans: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(chans * expand_ratio)
        self.conv1 = Conv2dBN(chans, hidden)
        self.act1 = nn.GELU()
        self.conv2 = Conv2dBN(hidden, hidden, kernel_size=3, padding=1, groups=hidden)
        self.act2 = nn.GELU()
        self.conv3 = Conv2dBN(hidden, chans)
        self.act3 = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.conv1(x))
        y = self.act2(self.conv2(y))
        return self.act3(x + self.conv3(y))


class PatchMerging(nn.Module):
    """Change width (and halve resolution when stride is 2): [B, C_in, H, W] -> [B, C_out, H', W'].

    H' = (H - 1) // stride + 1. The activation has no parameters, so one module serves both places.
    """

    def __init__(self, in_chans: int, out_chans: int, stride: int) -> None:
        super().__init__()
        self.act = nn.GELU()
        self.conv1 = Conv2dBN(in_chans, out_chans)
        self.conv2 = Conv2dBN(out_chans, out_chans, kernel_size=3, stride=stride, padding=1, groups=out_chans)
        self.conv3 = Conv2dBN(out_chans, out_chans)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return self.conv3(x)


def attention_bias_index(window_size: int) -> torch.Tensor:
    """[N, N] int64 index (N = window_size**2) of the bias for each query/key pair of one window.

    A pair's bias depends only on its offset (|dy|, |dx|). The official code numbers offsets by first
    appearance while scanning point pairs; the first query, (0, 0), already meets every offset in
    row-major order, so that number is |dy| * window_size + |dx|.
    """
    coords = torch.arange(window_size)
    rows = coords.repeat_interleave(window_size)  # y of each point, row-major
    cols = coords.repeat(window_size)  # x of each point
    dy = (rows[:, None] - rows[None, :]).abs()
    dx = (cols[:, None] - cols[None, :]).abs()
    return dy * window_size + dx


class Attention(nn.Module):
    """Multi-head self-attention inside one window with a learned per-offset bias: [B, N, C] -> [B, N, C].

    Pre-norm is part of this module (as in the official code), so padded all-zero tokens enter the
    softmax as LayerNorm(0) = bias, not as zeros; keep that order to match the reference.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.num_points = window_size * window_size
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, self.num_points))
        # Derived from window_size alone, so it is not saved; the gather on it folds to a constant on export.
        self.register_buffer("attention_bias_idxs", attention_bias_index(window_size), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, dim = self.num_points, self.num_heads * self.head_dim
        x = self.norm(x)
        # The official qkv layout is per head [q | k | v], not [all q | all k | all v].
        qkv = self.qkv(x).view(-1, n, self.num_heads, 3 * self.head_dim).transpose(1, 2)
        q, k, v = qkv.split(self.head_dim, dim=-1)  # each [B, heads, N, head_dim]
        # Gather on every call instead of caching in eval(): such a cache goes stale on load_state_dict.
        bias = self.attention_biases[:, self.attention_bias_idxs]  # [heads, N, N]
        attn = ((q @ k.transpose(-2, -1)) * self.scale + bias).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(-1, n, dim)
        return self.proj(x)


class TokenMLP(nn.Module):
    """Pre-norm two-layer GELU MLP on tokens: [..., C] -> [..., C]."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(self.norm(x))))


class TinyViTBlock(nn.Module):
    """Window attention, a depthwise local conv, then an MLP: tokens [B, H*W, C] -> same.

    Windows are cut from the map padded with zeros at the bottom/right to a multiple of the window size
    (e.g. 64x64 with window 14 becomes 70x70) and the padding is cropped afterwards.
    """

    def __init__(
        self,
        dim: int,
        resolution: tuple[int, int],
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        local_conv_size: int,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.resolution = resolution
        self.window_size = window_size
        self.attn = Attention(dim, num_heads, window_size)
        self.mlp = TokenMLP(dim, int(dim * mlp_ratio))
        self.local_conv = Conv2dBN(dim, dim, local_conv_size, padding=local_conv_size // 2, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        map_shape = (self.dim, *self.resolution)
        x = x + self._attend_windows(x)
        x = map_to_tokens(self.local_conv(tokens_to_map(x, map_shape)), map_shape)
        return x + self.mlp(x)

    def _attend_windows(self, x: torch.Tensor) -> torch.Tensor:
        """Attention within non-overlapping windows: [B, H*W, C] -> [B, H*W, C]."""
        (height, width), ws, dim = self.resolution, self.window_size, self.dim
        pad_b, pad_r = -height % ws, -width % ws
        x = x.reshape(-1, height, width, dim)
        if pad_b or pad_r:  # static ints from the config, so export sees no branch
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        rows, cols = (height + pad_b) // ws, (width + pad_r) // ws
        # [B, rows, ws, cols, ws, C] -> [B*rows*cols, ws*ws, C]
        windows = x.reshape(-1, rows, ws, cols, ws, dim).transpose(2, 3).reshape(-1, ws * ws, dim)
        windows = self.attn(windows)
        x = windows.reshape(-1, rows, cols, ws, ws, dim).transpose(2, 3).reshape(-1, rows * ws, cols * ws, dim)
        if pad_b or pad_r:
            x = x[:, :height, :width]
        return x.reshape(-1, height * width, dim)
