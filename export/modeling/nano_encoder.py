"""The image encoder of sam-edge's own default model ("nano"), designed for CPU latency.

A cheap stride-4 patchify stem, inverted-residual conv stages down to the 1/16 grid, a few global
attention blocks on a 1/32 grid for image-wide context, and a fusion neck to SAM's 256-channel
embedding. About 4 GFLOP at 1024x1024 (ViT-B: 972). BatchNorm (folded into the convs by ONNX
Runtime / OpenVINO) works for training with batches of one or two images because its statistics run
over large feature maps.

Frames: input [B, 3, S, S] normalized, padded image; output [B, 256, S/16, S/16] float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_edge.export.specs import NanoSpec


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias) + BatchNorm; the pair folds into one conv at inference."""
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            stride,
            padding=(kernel - stride) // 2 if kernel > stride else 0,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2-style block: 1x1 expand, 3x3 depthwise, 1x1 project, residual. [B, C, H, W] -> same."""

    def __init__(self, channels: int, expansion: int) -> None:
        super().__init__()
        hidden = channels * expansion
        self.expand = conv_bn(channels, hidden, 1)
        self.depthwise = conv_bn(hidden, hidden, 3, groups=hidden)
        self.project = conv_bn(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ReLU, not GELU: on the large early maps GELU's erf cost ~14% of the encoder in ONNX Runtime.
        y = F.relu(self.expand(x))
        y = F.relu(self.depthwise(y))
        return x + self.project(y)


class GlobalAttentionBlock(nn.Module):
    """Pre-norm transformer block over all tokens of a [B, C, h, w] map (fused SDPA attention)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, N, C] -> [B, N, C]."""
        batch, count, dim = tokens.shape
        qkv = self.qkv(self.norm1(tokens)).reshape(batch, count, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, count, dim)
        tokens = tokens + self.proj(attended)
        return tokens + self.mlp(self.norm2(tokens))


class NanoEncoder(nn.Module):
    """[B, 3, S, S] -> [B, out_chans, S/16, S/16]; channel and depth numbers come from NanoSpec."""

    def __init__(self, spec: NanoSpec, image_size: int = 1024, out_chans: int = 256) -> None:
        super().__init__()
        c4, c8, c16, c32 = spec.channels
        self.stem = conv_bn(3, c4, 4, stride=4)
        self.stage8 = nn.Sequential(
            conv_bn(c4, c8, 2, stride=2), *(InvertedResidual(c8, spec.expansion) for _ in range(spec.depths[0]))
        )
        self.stage16 = nn.Sequential(
            conv_bn(c8, c16, 2, stride=2), *(InvertedResidual(c16, spec.expansion) for _ in range(spec.depths[1]))
        )
        self.down32 = conv_bn(c16, c32, 2, stride=2)
        self.attention = nn.ModuleList(
            GlobalAttentionBlock(c32, spec.num_heads, spec.mlp_ratio) for _ in range(spec.depths[2])
        )
        self.lateral16 = nn.Conv2d(c16, out_chans, 1)
        self.lateral32 = nn.Conv2d(c32, out_chans, 1)
        # BatchNorm, not SAM's LayerNorm2d: it folds into the convs, while a channel-axis LayerNorm
        # on NCHW runs as slow ReduceMeans (~12% of the encoder in ONNX Runtime).
        self.neck = nn.Sequential(
            nn.BatchNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, 3, padding=1, groups=out_chans),
            nn.Conv2d(out_chans, out_chans, 1),
            nn.BatchNorm2d(out_chans),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(image))
        x = self.stage8(x)
        features16 = self.stage16(x)
        coarse = self.down32(features16)
        batch, channels, height, width = coarse.shape
        # No absolute position table: the zero-padded convs below carry position, and a table
        # would tie the weights to one input size (training runs at 512, inference at 1024).
        tokens = coarse.flatten(2).transpose(1, 2)
        for block in self.attention:
            tokens = block(tokens)
        coarse = tokens.transpose(1, 2).reshape(batch, channels, height, width)
        # Global context (1/32) upsampled onto the local detail (1/16), then a light neck.
        fused = self.lateral16(features16) + F.interpolate(self.lateral32(coarse), scale_factor=2.0, mode="nearest")
        return self.neck(fused)
