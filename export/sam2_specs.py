"""SAM 2 / 2.1 as data: the Hiera trunk, the SAM 2 decoder options and one table of the official variants.

SAM 2 and 2.1 share the image-mode architecture (their configs differ in video options only), so a
version is a label that checkpoint detection reads from the 2.1-only video keys. Heads, global blocks
and window sizes cannot be read from weight shapes: they come from this table, keyed by the shapes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sam_edge.export.specs import DecoderSpec
from sam_edge.runtime.errors import InvalidInputError


@dataclass(frozen=True)
class HieraSpec:
    """Hiera trunk + FPN neck (sam2/configs/*/*.yaml). Dims and heads double at each stage change."""

    embed_dim: int
    num_heads: int
    stages: tuple[int, ...]
    global_att_blocks: tuple[int, ...]
    window_spec: tuple[int, ...] = (8, 4, 14, 7)  # per stage; a stage's first block uses the previous one's
    pos_embed_size: tuple[int, int] = (14, 14)  # the background positional embedding, bicubic-resized (7x7 but b+)
    q_pool: int = 3  # stage changes that pool q (stride 2)
    mlp_ratio: float = 4.0
    neck_dim: int = 256
    fpn_top_down_levels: tuple[int, ...] = (2, 3)  # levels 0 and 1 (strides 4, 8) are lateral only
    kind: str = "hiera"

    @property
    def stage_dims(self) -> tuple[int, ...]:
        """Channels of each stage's output, stride 4 first."""
        return tuple(self.embed_dim * 2**i for i in range(len(self.stages)))


@dataclass(frozen=True)
class Sam2DecoderSpec(DecoderSpec):
    """SAM 2's prompt encoder + mask decoder: SAM's, plus what its config switches on."""

    use_high_res_features: bool = True  # stride-4 / stride-8 skips into the upscaling
    pred_obj_scores: bool = True  # an object-score token ahead of the IoU token
    pred_obj_scores_mlp: bool = True  # its head is a 3-layer MLP (else one Linear)
    iou_prediction_use_sigmoid: bool = True
    dynamic_multimask_via_stability: bool = True  # build_sam2(apply_postprocessing=True), the default
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98


@dataclass(frozen=True)
class Sam2ModelSpec:
    """One SAM 2 variant. The input is always squashed to ``image_size`` x ``image_size`` (no padding)."""

    name: str
    version: str  # "2" or "2.1": which official file family (video keys) the checkpoint has
    encoder: HieraSpec
    decoder: Sam2DecoderSpec = field(default_factory=Sam2DecoderSpec)
    image_size: int = 1024
    official_file: str | None = None

    @property
    def embedding_size(self) -> int:
        """Side of the stride-16 grid of ``image_embed`` (64)."""
        return self.image_size // 16

    @property
    def feature_shapes(self) -> dict[str, tuple[int, int, int, int]]:
        """The encoder's outputs: image_embed (stride 16) and the projected stride-4 / stride-8 features."""
        dim, side = self.decoder.transformer_dim, self.embedding_size
        return {
            "image_embed": (1, dim, side, side),
            "high_res_feats_0": (1, dim // 8, 4 * side, 4 * side),
            "high_res_feats_1": (1, dim // 4, 2 * side, 2 * side),
        }

    def to_dict(self) -> dict:
        """A JSON-ready description (artifact metadata)."""
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(record: dict) -> "Sam2ModelSpec":
        """Inverse of :meth:`to_dict`."""
        encoder = {k: tuple(v) if isinstance(v, list) else v for k, v in record["encoder"].items()}
        return Sam2ModelSpec(
            name=record["name"],
            version=record["version"],
            encoder=HieraSpec(**encoder),
            decoder=Sam2DecoderSpec(**record.get("decoder", {})),
            image_size=int(record.get("image_size", 1024)),
            official_file=record.get("official_file"),
        )


_SIZES = {
    # size: (trunk spec, file stem)
    "t": (HieraSpec(96, 1, (1, 2, 7, 2), (5, 7, 9), pos_embed_size=(7, 7)), "tiny"),
    "s": (HieraSpec(96, 1, (1, 2, 11, 2), (7, 10, 13), pos_embed_size=(7, 7)), "small"),
    "b+": (HieraSpec(112, 2, (2, 3, 16, 3), (12, 16, 20)), "base_plus"),
    "l": (HieraSpec(144, 2, (2, 6, 36, 4), (23, 33, 43), window_spec=(8, 4, 16, 8), pos_embed_size=(7, 7)), "large"),
}

# Keys follow the official config names (sam2/configs/sam2.1/sam2.1_hiera_t.yaml -> "sam2.1_hiera_t").
SAM2_SPECS: dict[str, Sam2ModelSpec] = {
    f"sam{version}_hiera_{size}": Sam2ModelSpec(
        f"sam{version}_hiera_{size}", version, trunk, official_file=f"sam{version}_hiera_{stem}.pt"
    )
    for version in ("2", "2.1")
    for size, (trunk, stem) in _SIZES.items()
}


def get_sam2_spec(model_type: str) -> Sam2ModelSpec:
    """Look up an official SAM 2 variant by key; the error lists the accepted keys."""
    try:
        return SAM2_SPECS[model_type]
    except KeyError:
        raise InvalidInputError(
            f"unknown SAM 2 model type {model_type!r}; expected one of {', '.join(SAM2_SPECS)}"
        ) from None


def other_version(spec: Sam2ModelSpec) -> Sam2ModelSpec:
    """The same architecture under the other version label (2 <-> 2.1), e.g. to say which file fits."""
    version = "2" if spec.version == "2.1" else "2.1"
    name = spec.name.replace(f"sam{spec.version}_", f"sam{version}_", 1)
    stem = spec.official_file.replace(f"sam{spec.version}_", f"sam{version}_", 1) if spec.official_file else None
    return dataclasses.replace(spec, name=name, version=version, official_file=stem)
