"""The SAM family as data: one frozen spec per variant and one table of the official ones.

A spec holds every number that shapes a model's state dict, so a model can be built, recognised from a
checkpoint and described inside an exported graph from the spec alone. Builders never branch on names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Union

from sam_edge.runtime.errors import InvalidInputError


@dataclass(frozen=True)
class ViTSpec:
    """SAM's plain ViT image encoder (windowed attention with decomposed relative positions)."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    window_size: int = 14
    patch_size: int = 16
    mlp_ratio: float = 4.0
    kind: str = "vit"


@dataclass(frozen=True)
class TinyViTSpec:
    """MobileSAM's TinyViT image encoder: a conv stage, then three windowed-attention stages."""

    embed_dims: tuple[int, ...]
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    window_sizes: tuple[int, ...]
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    num_classes: int = 1000  # the unused classifier head still sits in mobile_sam.pt
    kind: str = "tiny_vit"


@dataclass(frozen=True)
class NanoSpec:
    """sam-edge's own CPU-first encoder (export/modeling/nano_encoder.py), trained here."""

    channels: tuple[int, int, int, int] = (32, 64, 128, 192)  # at strides 4, 8, 16, 32
    depths: tuple[int, int, int] = (1, 2, 2)  # conv blocks at 1/8 and 1/16, attention blocks at 1/32
    num_heads: int = 3
    expansion: int = 2
    mlp_ratio: int = 2
    kind: str = "nano"


@dataclass(frozen=True)
class RepViTSpec:
    """EdgeSAM's RepViT encoder: a conv stem, four stages of RepViT blocks, two stages fused into SAM's neck.

    Every block has a 3x3 depthwise token mixer and a 2x channel mixer; the first block of stages 2-4
    halves the resolution. ``se_blocks`` are the (0-based, stem excluded) blocks with squeeze-excite.
    """

    widths: tuple[int, int, int, int] = (48, 96, 192, 384)  # at strides 4, 8, 16, 32
    depths: tuple[int, int, int, int] = (3, 4, 16, 3)
    se_blocks: tuple[int, ...] = (0, 4, 8, 10, 12, 14, 16, 18, 20, 24)
    upsample_mode: str = "bicubic"  # stage 4 -> stride 16; the PyTorch model's mode (its ONNX export used bilinear)
    kind: str = "rep_vit"


EncoderSpec = Union[ViTSpec, TinyViTSpec, NanoSpec, RepViTSpec]


@dataclass(frozen=True)
class DecoderSpec:
    """Prompt encoder + mask decoder; identical across the official family."""

    transformer_dim: int = 256
    transformer_depth: int = 2
    transformer_heads: int = 8
    transformer_mlp_dim: int = 2048
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    mask_in_chans: int = 16


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build one SAM variant. ``image_size`` is the encoder's square input side."""

    name: str
    encoder: EncoderSpec
    decoder: DecoderSpec = field(default_factory=DecoderSpec)
    image_size: int = 1024
    official_file: str | None = None
    weights_license: str | None = None  # only where the official weights' licence is not the code's Apache-2.0

    @property
    def embedding_size(self) -> int:
        """Side of the square image embedding grid (64 for every official model)."""
        return self.image_size // 16

    @property
    def embedding_shape(self) -> tuple[int, int, int, int]:
        """Shape of ``image_embeddings``: (1, transformer_dim, side, side)."""
        side = self.embedding_size
        return (1, self.decoder.transformer_dim, side, side)

    def to_dict(self) -> dict:
        """A JSON-ready description (used in artifact metadata)."""
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(record: dict) -> "ModelSpec":
        """Inverse of :meth:`to_dict`; raises InvalidInputError on an unknown encoder kind."""
        encoder_record = dict(record["encoder"])
        encoder_types = {"vit": ViTSpec, "tiny_vit": TinyViTSpec, "nano": NanoSpec, "rep_vit": RepViTSpec}
        kind = encoder_record.get("kind")
        if kind not in encoder_types:
            raise InvalidInputError(f"unknown encoder kind {kind!r}; expected one of {sorted(encoder_types)}")
        encoder_record = {k: tuple(v) if isinstance(v, list) else v for k, v in encoder_record.items()}
        return ModelSpec(
            name=record["name"],
            encoder=encoder_types[kind](**encoder_record),
            decoder=DecoderSpec(**record.get("decoder", {})),
            image_size=int(record.get("image_size", 1024)),
            official_file=record.get("official_file"),
            weights_license=record.get("weights_license"),
        )


EDGE_SAM_LICENSE = (
    "EdgeSAM's weights are under the S-Lab License 1.0: non-commercial use only "
    "(github.com/chongzhou96/EdgeSAM, LICENSE); sam-edge's code stays Apache-2.0"
)

OFFICIAL_SPECS: dict[str, ModelSpec] = {
    "vit_b": ModelSpec("vit_b", ViTSpec(768, 12, 12, (2, 5, 8, 11)), official_file="sam_vit_b_01ec64.pth"),
    "vit_l": ModelSpec("vit_l", ViTSpec(1024, 24, 16, (5, 11, 17, 23)), official_file="sam_vit_l_0b3195.pth"),
    "vit_h": ModelSpec("vit_h", ViTSpec(1280, 32, 16, (7, 15, 23, 31)), official_file="sam_vit_h_4b8939.pth"),
    "vit_t": ModelSpec(
        "vit_t",
        TinyViTSpec(
            embed_dims=(64, 128, 160, 320), depths=(2, 2, 6, 2), num_heads=(2, 4, 5, 10), window_sizes=(7, 7, 14, 7)
        ),
        official_file="mobile_sam.pt",
    ),
    # EdgeSAM: SAM's prompt encoder and mask decoder unchanged behind a RepViT-M1 encoder distilled from
    # SAM. edge_sam_3x.pth has the same architecture (trained on 3x the data).
    "edge_sam": ModelSpec(
        "edge_sam",
        RepViTSpec(),
        official_file="edge_sam.pth",
        weights_license=EDGE_SAM_LICENSE,
    ),
    # sam-edge's own default model, trained here on generated scenes (train/train_nano.py). The
    # decoder keeps SAM's architecture; its token MLP is 512 wide instead of 2048 so that the whole
    # model stays within 15 MB of fp32 weights (its size budget) and the fp32 ONNX + OpenVINO IR within ~30 MB
    # of package data. That MLP only sees ~7 tokens: the cut saves 6 MB and almost no compute.
    "nano": ModelSpec("nano", NanoSpec(), DecoderSpec(transformer_mlp_dim=512)),
}


def get_spec(model_type: str) -> ModelSpec:
    """Look up an official variant by key; the error lists the accepted keys."""
    try:
        return OFFICIAL_SPECS[model_type]
    except KeyError:
        raise InvalidInputError(
            f"unknown model type {model_type!r}; expected one of {', '.join(OFFICIAL_SPECS)}"
        ) from None
