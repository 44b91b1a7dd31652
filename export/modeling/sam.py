"""The Sam container: image encoder + prompt encoder + mask decoder, with official state-dict prefixes.

Frames: ``encode_image`` takes the normalized, padded image [1, 3, S, S] float32; ``decode`` takes
prompts in the input frame with the official ONNX labels (see prompt_encoder.py).
"""

from __future__ import annotations

import torch
from torch import nn

from sam_edge.export.modeling.mask_decoder import MaskDecoder
from sam_edge.export.modeling.prompt_encoder import PromptEncoder
from sam_edge.export.modeling.vit_encoder import ViTImageEncoder
from sam_edge.export.specs import ModelSpec


def build_image_encoder(spec: ModelSpec) -> nn.Module:
    """The encoder named by ``spec.encoder.kind``: [1, 3, S, S] -> [1, 256, S/16, S/16]."""
    out_chans = spec.decoder.transformer_dim
    if spec.encoder.kind == "vit":
        return ViTImageEncoder(spec.encoder, spec.image_size, out_chans)
    if spec.encoder.kind == "tiny_vit":
        from sam_edge.export.modeling.tiny_vit import TinyViTEncoder

        return TinyViTEncoder(spec.encoder, spec.image_size, out_chans)
    if spec.encoder.kind == "nano":
        from sam_edge.export.modeling.nano_encoder import NanoEncoder

        return NanoEncoder(spec.encoder, spec.image_size, out_chans)
    if spec.encoder.kind == "rep_vit":
        from sam_edge.export.modeling.rep_vit import RepViTEncoder

        return RepViTEncoder(spec.encoder, out_chans)
    raise ValueError(f"unknown encoder kind {spec.encoder.kind!r}; expected 'vit', 'tiny_vit', 'nano' or 'rep_vit'")


def deploy_form(encoder: nn.Module) -> nn.Module:
    """The encoder to trace for inference: EdgeSAM's RepViT with its BatchNorms and branches folded
    into single convs (a copy; same function), every other encoder as it is."""
    from sam_edge.export.modeling.rep_vit import RepViTEncoder, folded_rep_vit

    return folded_rep_vit(encoder) if isinstance(encoder, RepViTEncoder) else encoder


class Sam(nn.Module):
    """A whole SAM model; ``state_dict()`` keys match the official checkpoints."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.image_encoder = build_image_encoder(spec)
        self.prompt_encoder = PromptEncoder(
            spec.decoder.transformer_dim, spec.embedding_size, spec.image_size, spec.decoder.mask_in_chans
        )
        self.mask_decoder = MaskDecoder(spec.decoder)

    def set_image_size(self, image_size: int) -> None:
        """Run at another square input size (multi-resolution training of size-agnostic encoders).

        Prompts are then in a frame whose longest side is ``image_size`` and the grid is image_size/16.
        """
        self.prompt_encoder.image_size = image_size
        self.prompt_encoder.embedding_size = image_size // 16

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """Normalized, padded image [1, 3, S, S] -> image embeddings [1, 256, S/16, S/16]."""
        return self.image_encoder(image)

    def decode(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Official ONNX decoder math for a batch of B prompts.

        image_embeddings [1, 256, 64, 64]; point_coords [B, N, 2] input frame; point_labels [B, N];
        mask_input [B or 1, 1, 256, 256]; has_mask_input [B or 1]. Returns (low-res logits
        [B, 4, 256, 256], IoU predictions [B, 4]).
        """
        sparse = self.prompt_encoder.embed_points(point_coords, point_labels)
        dense = self.prompt_encoder.embed_mask(mask_input, has_mask_input)
        return self.mask_decoder(image_embeddings, self.prompt_encoder.dense_positional_encoding(), sparse, dense)
