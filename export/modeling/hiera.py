"""Hiera, SAM 2's image trunk: a 7x7 stride-4 patch embedding, then four stages of HieraBlocks.

Frames: the input is the normalized image [1, 3, S, S] (S = 1024, squashed, not padded); the stage
outputs are [1, C * 2**i, S / 4 / 2**i, S / 4 / 2**i] (channels first), strides 4, 8, 16, 32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_edge.export.modeling.hiera_blocks import HieraBlock
from sam_edge.export.sam2_specs import HieraSpec


class PatchEmbed(nn.Module):
    """Conv 7x7, stride 4, padding 3: [B, 3, S, S] -> channels-last [B, S/4, S/4, C]."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=7, stride=4, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


def block_layout(spec: HieraSpec) -> list[dict]:
    """Per block: dim, dim_out, heads, window and pool_q, following the reference's schedule.

    A stage's first block widens (dim x2, heads x2) and pools q, but still attends in the *previous*
    stage's window (the schedule lags by one block), so at the stride-8 change it attends in 8x8
    windows at 256^2 and writes 4x4 windows at 128^2. Blocks in ``global_att_blocks`` use window 0.
    """
    stage_ends = [sum(spec.stages[: i + 1]) - 1 for i in range(len(spec.stages))]
    pool_blocks = [end + 1 for end in stage_ends[:-1]][: spec.q_pool]
    dim, heads, stage, layout = spec.embed_dim, spec.num_heads, 0, []
    for index in range(sum(spec.stages)):
        window = 0 if index in spec.global_att_blocks else spec.window_spec[stage]
        dim_out = dim
        if index - 1 in stage_ends:
            dim_out, heads, stage = dim * 2, heads * 2, stage + 1
        layout.append(dict(dim=dim, dim_out=dim_out, num_heads=heads, window=window, pool_q=index in pool_blocks))
        dim = dim_out
    return layout


class Hiera(nn.Module):
    """[1, 3, S, S] -> the four stage outputs, stride 4 first (state-dict names as the reference)."""

    def __init__(self, spec: HieraSpec) -> None:
        super().__init__()
        self.spec = spec
        self.stage_ends = [sum(spec.stages[: i + 1]) - 1 for i in range(len(spec.stages))]
        self.patch_embed = PatchEmbed(spec.embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, spec.embed_dim, *spec.pos_embed_size))
        first_window = spec.window_spec[0]
        self.pos_embed_window = nn.Parameter(torch.zeros(1, spec.embed_dim, first_window, first_window))
        self.blocks = nn.ModuleList(HieraBlock(mlp_ratio=spec.mlp_ratio, **block) for block in block_layout(spec))

    def positional_embedding(self, height: int, width: int) -> torch.Tensor:
        """[1, H, W, C]: the background table resized (bicubic) plus the window table tiled over the map.

        Depends only on the weights and the (fixed) input size, so exporters may fold it to a constant.
        """
        background = F.interpolate(self.pos_embed, size=(height, width), mode="bicubic", align_corners=False)
        _, channels, window_h, window_w = self.pos_embed_window.shape
        # Tiling as a broadcast over [rows, window_h, cols, window_w]: the same values as Tensor.tile, and
        # it exports without the shape-dependent If nodes that tile's repeats become in ONNX.
        tiled = self.pos_embed_window.reshape(1, channels, 1, window_h, 1, window_w)
        tiled = tiled.expand(1, channels, height // window_h, window_h, width // window_w, window_w)
        return (background + tiled.reshape(1, channels, height, width)).permute(0, 2, 3, 1)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = self.patch_embed(image)
        x = x + self.positional_embedding(x.shape[1], x.shape[2])
        outputs = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs
