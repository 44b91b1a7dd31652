"""Building blocks of MobileSAM's TinyViT encoder (state-dict names follow the official code).

Two layouts travel between blocks: a feature *map* [B, C, H, W] (convolutions) and *tokens* [B, H*W, C]
in row-major order (attention and MLP). All tensors are float32. Spatial sizes are fixed Python ints given
at construction, so traced graphs hold constant shapes and only the batch axis stays free (written as -1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_edge.export.modeling.layers import Conv2dBN


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


# Largest intermediate (elements per image) the high-resolution convolutions compute at once. At 1024
# MobileSAM's stem makes [32, 512, 512] maps and an im2col buffer of [288, 256 x 256] for its second
# conv, and its first stage expands 64 -> 256 channels at 256 x 256 (16.8 M elements, 67 MB per tensor,
# two or three alive at once): computed whole, they set the encoder's peak memory. Computed in row
# strips (conv_rows) that keep each piece under this size, the peak is a block's input and output plus
# one strip's intermediates, and the function is the same: convolutions only look at nearby rows.
MAX_STRIP_ELEMENTS = 1 << 21  # 2 M elements, 8 MB of float32


def conv_rows(conv: "Conv2dBN", x: torch.Tensor, x_top: int, full_height: int, first: int, last: int) -> torch.Tensor:
    """Output rows [first, last) of ``conv`` over a map of ``full_height`` rows, of which ``x`` holds
    rows [x_top, x_top + x.shape[-2]) (they must cover what those output rows read; rows outside the
    map are the zero padding the whole map would get). [B, C_in, h, W] -> [B, C_out, last - first, W']."""
    layer = conv.c
    (kernel, _), (stride, stride_x), (padding, padding_x) = layer.kernel_size, layer.stride, layer.padding
    top, bottom = first * stride - padding, (last - 1) * stride - padding + kernel  # input rows read
    rows = x[:, :, max(top, 0) - x_top : min(bottom, full_height) - x_top]
    rows = F.pad(rows, (0, 0, max(0, -top), max(0, bottom - full_height)))
    return conv.bn(F.conv2d(rows, layer.weight, None, (stride, stride_x), (0, padding_x), 1, layer.groups))


def row_strips(height: int, rows: int) -> list[tuple[int, int]]:
    """[0, height) cut into [top, bottom) strips of ``rows`` rows (the last may be shorter)."""
    rows = max(1, rows)
    return [(top, min(top + rows, height)) for top in range(0, height, rows)]


class MBConv(nn.Module):
    """Inverted residual (1x1 expand, 3x3 depthwise, 1x1 project), GELU after the sum.

    [B, C, H, W] -> [B, C, H, W]. A large map goes through in row strips (MAX_STRIP_ELEMENTS): each
    expands its rows plus the halo row on each side that the depthwise convolution reads.
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
        height, width = x.shape[-2:]
        rows = MAX_STRIP_ELEMENTS // (self.conv1.c.out_channels * width)
        if rows >= height:
            y = self.act1(self.conv1(x))
            y = self.act2(self.conv2(y))
            return self.act3(x + self.conv3(y))
        return torch.cat([self._strip(x, top, bottom) for top, bottom in row_strips(height, rows)], dim=2)

    def _strip(self, x: torch.Tensor, top: int, bottom: int) -> torch.Tensor:
        """Output rows [top, bottom) of the block: [B, C, H, W] -> [B, C, bottom - top, W]."""
        height = x.shape[-2]
        first = max(top - 1, 0)
        y = self.act1(self.conv1(x[:, :, first : min(bottom + 1, height)]))
        y = self.act2(conv_rows(self.conv2, y, first, height, top, bottom))
        return self.act3(x[:, :, top:bottom] + self.conv3(y))


class PatchMerging(nn.Module):
    """Change width (and halve resolution when stride is 2): [B, C_in, H, W] -> [B, C_out, H', W'].

    H' = (H - 1) // stride + 1. The activation has no parameters, so one module serves both places.
    A large widened map goes through in row strips of the output (conv_rows).
    """

    def __init__(self, in_chans: int, out_chans: int, stride: int) -> None:
        super().__init__()
        self.act = nn.GELU()
        self.conv1 = Conv2dBN(in_chans, out_chans)
        self.conv2 = Conv2dBN(out_chans, out_chans, kernel_size=3, stride=stride, padding=1, groups=out_chans)
        self.conv3 = Conv2dBN(out_chans, out_chans)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        rows = MAX_STRIP_ELEMENTS // (self.conv1.c.out_channels * width)  # of the widened map
        if rows >= height:
            x = self.act(self.conv1(x))
            x = self.act(self.conv2(x))
            return self.conv3(x)
        stride = self.conv2.c.stride[0]
        out_height = (height - 1) // stride + 1
        strips = []
        for top, bottom in row_strips(out_height, max(1, rows // stride)):
            first = max(top * stride - 1, 0)  # the rows the kernel-3 depthwise conv reads
            wide = self.act(self.conv1(x[:, :, first : min((bottom - 1) * stride + 2, height)]))
            strips.append(self.conv3(self.act(conv_rows(self.conv2, wide, first, height, top, bottom))))
        return torch.cat(strips, dim=2)


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
        tokens = MAX_STRIP_ELEMENTS // self.mlp.fc1.out_features  # hidden [tokens, 4C] pieces, as above
        return torch.cat([part + self.mlp(part) for part in _split_rows(x, 1, tokens)], dim=1)

    def _attend_windows(self, x: torch.Tensor) -> torch.Tensor:
        """Attention within non-overlapping windows: [B, H*W, C] -> [B, H*W, C]."""
        (height, width), ws, dim = self.resolution, self.window_size, self.dim
        pad_b, pad_r = -height % ws, -width % ws
        x = x.reshape(-1, height, width, dim)
        if pad_b or pad_r:  # static ints from the config, so export sees no branch
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        rows, cols = (height + pad_b) // ws, (width + pad_r) // ws
        x = x.reshape(-1, rows, ws, cols, ws, dim)
        # Rows of windows at a time, so that the [windows, ws*ws, 3C] qkv products and the [windows,
        # heads, ws*ws, ws*ws] scores stay under MAX_STRIP_ELEMENTS (at 1024: 27 and 19 MB whole).
        points = ws * ws
        group = MAX_STRIP_ELEMENTS // (cols * points * max(3 * dim, self.attn.num_heads * points))
        x = torch.cat([self._attend_window_rows(part, ws, dim) for part in _split_rows(x, 1, group)], dim=1)
        if pad_b or pad_r:
            x = x[:, :height, :width]
        return x.reshape(-1, height * width, dim)

    def _attend_window_rows(self, x: torch.Tensor, ws: int, dim: int) -> torch.Tensor:
        """[B, rows, ws, cols, ws, C] windows -> attended map [B, rows*ws, cols*ws, C]."""
        rows, cols = x.shape[1], x.shape[3]
        windows = x.transpose(2, 3).reshape(-1, ws * ws, dim)  # [B*rows*cols, ws*ws, C]
        windows = self.attn(windows)
        return windows.reshape(-1, rows, cols, ws, ws, dim).transpose(2, 3).reshape(-1, rows * ws, cols * ws, dim)


def _split_rows(x: torch.Tensor, axis: int, size: int) -> list[torch.Tensor]:
    """``x`` cut along ``axis`` (a static one) into pieces of ``size`` (>= 1; one piece if it all fits).

    Slices, not ``Tensor.split``: the ONNX export wrote an uneven split's sizes wrong (all equal).
    """
    return [x.narrow(axis, top, bottom - top) for top, bottom in row_strips(x.shape[axis], size)]
