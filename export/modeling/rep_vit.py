"""EdgeSAM's RepViT-M1 image encoder, with the official state-dict names, and its deploy form.

[1, 3, 1024, 1024] normalized, padded image -> [1, 256, 64, 64] embeddings. A conv stem (stride 4)
feeds four stages of RepViT blocks (strides 4, 8, 16, 32); the last block of stage 3 and of stage 4
(upsampled x2, bicubic) are projected to 256 channels, summed and passed through SAM's neck.

Trained checkpoints keep every BatchNorm and the three-branch depthwise mixer (3x3 + 1x1 + identity).
:func:`folded_rep_vit` turns a loaded encoder into one that computes the same with a single biased
conv per branch set, which is what export traces: fewer, cheaper ops on a CPU.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from sam_edge.export.modeling.layers import Conv2dBN, LayerNorm2d
from sam_edge.export.specs import RepViTSpec


def squeeze_channels(channels: int, ratio: float = 0.25, divisor: int = 8) -> int:
    """Hidden width of a squeeze-excite: ``channels * ratio`` rounded to the nearest multiple of 8 (timm's rule)."""
    return max(divisor, int(channels * ratio + divisor / 2) // divisor * divisor)


class SqueezeExcite(nn.Module):
    """Channel gate [B, C, H, W] -> same: x * sigmoid(fc2(relu(fc1(mean over H, W)))); timm's SEModule layout."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = squeeze_channels(channels)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The mean over rows of row means, not one mean over H x W: onnxruntime sums a reduction in one
        # float32 pass, and over the 65,536 values of a 256 x 256 map that moved the embedding by ~7e-4
        # (torch sums pairwise). Two passes of at most 256 values each stay within ~3e-5.
        gate = self.fc2(F.relu(self.fc1(x.mean(3, keepdim=True).mean(2, keepdim=True))))
        return x * torch.sigmoid(gate)


class RepVGGDW(nn.Module):
    """Depthwise token mixer in training form: BN(dw3x3(x)) + BN(dw1x1(x)) + x, [B, C, H, W] -> same."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = Conv2dBN(channels, channels, 3, 1, 1, groups=channels)
        self.conv1 = Conv2dBN(channels, channels, 1, 1, 0, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.conv1(x) + x

    @torch.no_grad()
    def folded(self) -> nn.Conv2d:
        """The one depthwise 3x3 conv (with bias) equal to the three branches: 1x1 and identity sit at the centre."""
        conv, point = self.conv.folded(), self.conv1.folded()
        centre = torch.zeros_like(conv.weight)
        centre[:, :, 1, 1] = point.weight[:, :, 0, 0] + 1.0
        conv.weight.add_(centre)
        conv.bias.add_(point.bias)
        return conv


class Residual(nn.Module):
    """x + m(x); the official wrapper, kept for its ``m.`` key prefix."""

    def __init__(self, m: nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.m(x)


def channel_mixer(channels: int) -> Residual:
    """Residual 1x1 expansion (2x) -> GELU -> 1x1 projection, [B, C, H, W] -> same."""
    return Residual(nn.Sequential(Conv2dBN(channels, 2 * channels), nn.GELU(), Conv2dBN(2 * channels, channels)))


class RepViTBlock(nn.Module):
    """One RepViT block: [B, C_in, H, W] -> [B, C_out, H / stride, W / stride].

    Stride 1 (C_in == C_out): RepVGGDW mixer, optional squeeze-excite, then the channel mixer.
    Stride 2: depthwise 3x3 stride 2 + BN, optional squeeze-excite, 1x1 to C_out + BN, channel mixer.
    """

    def __init__(self, in_chans: int, out_chans: int, stride: int, use_se: bool) -> None:
        super().__init__()
        gate = SqueezeExcite(in_chans) if use_se else nn.Identity()
        if stride == 1:
            self.token_mixer = nn.Sequential(RepVGGDW(in_chans), gate)
        else:
            self.token_mixer = nn.Sequential(
                Conv2dBN(in_chans, in_chans, 3, stride, 1, groups=in_chans), gate, Conv2dBN(in_chans, out_chans)
            )
        self.channel_mixer = channel_mixer(out_chans)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel_mixer(self.token_mixer(x))


class UpsampledProjection(nn.Module):
    """1x1 conv (no bias) then x2 upsampling, [B, C, h, w] -> [B, 256, 2h, 2w]; ``op_list`` as in the checkpoint."""

    def __init__(self, in_chans: int, out_chans: int, mode: str) -> None:
        super().__init__()
        self.op_list = nn.ModuleList([nn.Conv2d(in_chans, out_chans, 1, bias=False)])
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.op_list[0](x), scale_factor=2.0, mode=self.mode, align_corners=False)


def block_plan(spec: RepViTSpec) -> list[tuple[int, int, int, bool]]:
    """(in_chans, out_chans, stride, use_se) per block, stem excluded, in order."""
    plan, in_chans = [], spec.widths[0]
    for stage, (width, depth) in enumerate(zip(spec.widths, spec.depths)):
        for position in range(depth):
            stride = 2 if stage > 0 and position == 0 else 1
            plan.append((in_chans, width, stride, len(plan) in spec.se_blocks))
            in_chans = width
    return plan


class RepViTEncoder(nn.Module):
    """RepViT trunk + two-level fuse + SAM's neck: [B, 3, S, S] -> [B, out_chans, S/16, S/16], any S
    divisible by 32 (all convolutions: nothing depends on the input size)."""

    def __init__(self, spec: RepViTSpec, out_chans: int = 256) -> None:
        super().__init__()
        stem_width = spec.widths[0]
        stem = nn.Sequential(
            Conv2dBN(3, stem_width // 2, 3, 2, 1), nn.GELU(), Conv2dBN(stem_width // 2, stem_width, 3, 2, 1)
        )
        blocks = [RepViTBlock(*entry) for entry in block_plan(spec)]
        self.features = nn.ModuleList([stem, *blocks])
        # features[i] for i >= 1 is block i - 1; the fuse reads the last blocks of stages 3 and 4.
        self.stage3_end = sum(spec.depths[:3])
        self.fuse_stage2 = nn.Conv2d(spec.widths[2], out_chans, 1, bias=False)
        self.fuse_stage3 = UpsampledProjection(spec.widths[3], out_chans, spec.upsample_mode)
        self.neck = nn.Sequential(
            nn.Conv2d(out_chans, out_chans, 1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index == self.stage3_end:
                stride16 = x
        return self.neck(self.fuse_stage2(stride16) + self.fuse_stage3(x))


def folded_rep_vit(encoder: RepViTEncoder) -> RepViTEncoder:
    """A copy of ``encoder`` (eval mode) whose Conv2dBN pairs and RepVGGDW mixers are single biased convs.

    The result computes the same function up to float rounding (~1e-6 relative); ``encoder`` is untouched.
    Its state dict no longer has the official keys: it is for tracing, not for saving.
    """
    folded = copy.deepcopy(encoder).eval()
    _fold_children(folded)
    return folded


def _fold_children(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, (Conv2dBN, RepVGGDW)):
            setattr(module, name, child.folded())
        else:
            _fold_children(child)
