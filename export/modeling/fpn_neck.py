"""SAM 2's image encoder: the Hiera trunk and its FPN neck, image mode.

Frames: [1, 3, S, S] normalized (S = 1024) -> neck levels L0 [1, 256, S/4, S/4], L1 [1, 256, S/8, S/8],
L2 [1, 256, S/16, S/16]. The stride-32 level L3 feeds L2's top-down sum and is then dropped (the
reference's ``scalp=1``). The sine position encodings the reference's neck also returns serve only
the video memory and are not computed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_edge.export.modeling.hiera import Hiera
from sam_edge.export.sam2_specs import HieraSpec


class LateralConv(nn.Module):
    """A 1x1 conv under the name ``conv`` (the reference wraps each in an nn.Sequential)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class FpnNeck(nn.Module):
    """Lateral 1x1 convs, plus nearest-x2 top-down sums on ``top_down_levels``.

    ``convs`` is indexed from the coarsest level: convs[0] takes the stride-32 stage, convs[3] stride 4.
    """

    def __init__(self, stage_dims: tuple[int, ...], neck_dim: int, top_down_levels: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(LateralConv(dim, neck_dim) for dim in reversed(stage_dims))
        self.top_down_levels = tuple(top_down_levels)

    def forward(self, stages: list[torch.Tensor]) -> list[torch.Tensor]:
        """Stage outputs, stride 4 first -> one neck level per stage, stride 4 first."""
        last = len(stages) - 1
        levels: list[torch.Tensor] = [None] * len(stages)
        previous = None
        for level in range(last, -1, -1):
            lateral = self.convs[last - level](stages[level])
            if level in self.top_down_levels and previous is not None:
                lateral = lateral + F.interpolate(previous, scale_factor=2.0, mode="nearest")
            # A level outside top_down_levels restarts the chain from its own lateral features.
            previous = levels[level] = lateral
        return levels


class Sam2ImageEncoder(nn.Module):
    """[1, 3, S, S] -> [L0 (stride 4), L1 (stride 8), L2 (stride 16)] neck features, 256 channels each."""

    def __init__(self, spec: HieraSpec) -> None:
        super().__init__()
        self.trunk = Hiera(spec)
        self.neck = FpnNeck(spec.stage_dims, spec.neck_dim, spec.fpn_top_down_levels)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return self.neck(self.trunk(image))[:-1]
