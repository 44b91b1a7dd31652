"""MobileSAM's TinyViT image encoder (model key ``vit_t``), written for inference and ONNX export.

Matches the official ``mobile_sam.modeling.TinyViT`` in math and state-dict keys, so ``mobile_sam.pt``
loads unchanged (``strict=True``). Left out on purpose: drop-path, checkpointing and layer-wise lr decay
(training only), and the official eval-time cache of attention biases (see ``Attention``).

Data flow for a 1024x1024 input (vit_t widths):

    patch_embed  [B, 3, 1024, 1024] -> [B, 64, 256, 256]    two stride-2 convs
    layers.0     MBConv blocks,  then merge -> [B, 128, 128, 128]
    layers.1     attention (window 7),  merge -> [B, 160, 64, 64]
    layers.2     attention (window 14), merge (stride 1) -> [B, 320, 64, 64]
    layers.3     attention (window 7)            -> [B, 320, 64, 64]
    neck         1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d -> [B, 256, 64, 64]
"""

from __future__ import annotations

import torch
from torch import nn

from sam_edge.export.modeling.layers import Conv2dBN, LayerNorm2d
from sam_edge.export.modeling.tiny_vit_blocks import (
    MAX_STRIP_ELEMENTS,
    MBConv,
    PatchMerging,
    TinyViTBlock,
    conv_rows,
    map_to_tokens,
    row_strips,
    tokens_to_map,
)
from sam_edge.export.specs import TinyViTSpec


def _conv_out(size: int, stride: int) -> int:
    """Output side of a kernel-3, padding-1 convolution with ``stride``."""
    return (size - 1) // stride + 1


class PatchEmbed(nn.Module):
    """Two stride-2 3x3 convs with GELU between: [B, C_in, H, W] -> [B, C, H/4, W/4].

    At high resolution in row strips of the output (conv_rows, MAX_STRIP_ELEMENTS), each computing the
    rows of the first conv it reads: same function, a fraction of the peak memory.
    """

    def __init__(self, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            Conv2dBN(in_chans, embed_dim // 2, kernel_size=3, stride=2, padding=1),
            nn.GELU(),
            Conv2dBN(embed_dim // 2, embed_dim, kernel_size=3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, _, second = self.seq
        height, width = x.shape[-2:]
        middle_height, out_height = _conv_out(height, 2), _conv_out(_conv_out(height, 2), 2)
        im2col_row = second.c.in_channels * 9 * _conv_out(_conv_out(width, 2), 2)  # elements per output row
        rows = MAX_STRIP_ELEMENTS // im2col_row
        if rows >= out_height:
            return self.seq(x)
        strips = []
        for top, bottom in row_strips(out_height, rows):
            middle_top, middle_bottom = max(2 * top - 1, 0), min(2 * bottom, middle_height)  # rows the 2nd conv reads
            middle = self.seq[1](conv_rows(first, x, 0, height, middle_top, middle_bottom))
            strips.append(conv_rows(second, middle, middle_top, middle_height, top, bottom))
        return torch.cat(strips, dim=2)


class ConvStage(nn.Module):
    """Stage 0: MBConv blocks then a merge: [B, C, H, W] -> [B, C_next, H', W']."""

    def __init__(self, dim: int, depth: int, expand_ratio: float, downsample: PatchMerging | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(MBConv(dim, expand_ratio) for _ in range(depth))
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class AttentionStage(nn.Module):
    """Stages 1..n: TinyViT blocks on tokens, then an optional merge: [B, C, H, W] -> [B, C', H', W']."""

    def __init__(
        self, blocks: list[TinyViTBlock], map_shape: tuple[int, int, int], downsample: PatchMerging | None
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.map_shape = map_shape  # (C, H, W) while in this stage
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = map_to_tokens(x, self.map_shape)
        for block in self.blocks:
            x = block(x)
        x = tokens_to_map(x, self.map_shape)
        return x if self.downsample is None else self.downsample(x)


class TinyViTEncoder(nn.Module):
    """TinyViT backbone plus SAM's neck: [B, 3, S, S] float32 -> [B, out_chans, S/16, S/16] float32.

    The input is the normalized, padded image (S = image_size, 1024 for MobileSAM). ``norm_head`` and
    ``head`` are the unused ImageNet classifier; they exist only because ``mobile_sam.pt`` stores them.
    """

    def __init__(self, spec: TinyViTSpec, image_size: int = 1024, out_chans: int = 256) -> None:
        super().__init__()
        dims = spec.embed_dims
        self.patch_embed = PatchEmbed(3, dims[0])
        side = _conv_out(_conv_out(image_size, 2), 2)
        self.layers = nn.ModuleList()
        for index in range(len(spec.depths)):
            downsample, next_side = self._merge(spec, index, side)
            self.layers.append(self._stage(spec, index, side, downsample))
            side = next_side
        self.norm_head = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], spec.num_classes) if spec.num_classes > 0 else nn.Identity()
        self.neck = nn.Sequential(
            nn.Conv2d(dims[-1], out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    @staticmethod
    def _merge(spec: TinyViTSpec, index: int, side: int) -> tuple[PatchMerging | None, int]:
        """The merge closing stage ``index`` and the side it leaves; the last stage has none.

        Every merge halves the resolution except the one into the last stage, which keeps it, so the
        embedding stays at S/16 (the official code keys this on out_dim in {320, 448, 576}, i.e. on the
        final widths of its released models; its resolution bookkeeping only holds for this rule).
        """
        if index == len(spec.depths) - 1:
            return None, side
        stride = 1 if index == len(spec.depths) - 2 else 2
        merge = PatchMerging(spec.embed_dims[index], spec.embed_dims[index + 1], stride)
        return merge, _conv_out(side, stride)

    @staticmethod
    def _stage(spec: TinyViTSpec, index: int, side: int, downsample: PatchMerging | None) -> nn.Module:
        """Stage ``index`` working at ``side`` x ``side``: convolutional first, attention after."""
        dim, depth = spec.embed_dims[index], spec.depths[index]
        if index == 0:
            return ConvStage(dim, depth, spec.mbconv_expand_ratio, downsample)
        blocks = [
            TinyViTBlock(
                dim,
                (side, side),
                spec.num_heads[index],
                spec.window_sizes[index],
                spec.mlp_ratio,
                spec.local_conv_size,
            )
            for _ in range(depth)
        ]
        return AttentionStage(blocks, (dim, side, side), downsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] float32 normalized image -> [B, out_chans, S/16, S/16] float32 embeddings."""
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.neck(x)
