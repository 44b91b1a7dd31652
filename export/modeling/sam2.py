"""The Sam2 container, image mode: Hiera + FPN encoder, SAM's prompt encoder, SAM 2's mask decoder.

State-dict names are the official ones for the image-mode part of a SAM 2 / 2.1 checkpoint
(``image_encoder.``, ``sam_prompt_encoder.``, ``sam_mask_decoder.``, ``no_mem_embed``); the video
modules of the official files are recognised and left out by export/sam2_checkpoint.py.

Frames: ``encode_image`` takes the normalized image squashed to [1, 3, 1024, 1024] (no padding);
``decode`` takes prompts in that 1024 x 1024 frame with the official ONNX labels (1 fg, 0 bg, -1 padding,
2/3 box corners). SAM 2 appends the (0, 0) / -1 padding point to every point or box prompt; the caller
does (as with SAM's ONNX decoder), so the graphs keep the official interface.
"""

from __future__ import annotations

import torch
from torch import nn

from sam_edge.export.modeling.fpn_neck import Sam2ImageEncoder
from sam_edge.export.modeling.prompt_encoder import PromptEncoder
from sam_edge.export.modeling.sam2_mask_decoder import Sam2MaskDecoder
from sam_edge.export.sam2_specs import Sam2ModelSpec


class Sam2(nn.Module):
    """A SAM 2 model in image mode; ``state_dict()`` keys match the image part of the official files."""

    def __init__(self, spec: Sam2ModelSpec) -> None:
        super().__init__()
        if not spec.decoder.use_high_res_features:
            raise ValueError(f"{spec.name}: image mode is built with high-res features, as every official config")
        dim = spec.decoder.transformer_dim
        self.spec = spec
        self.image_encoder = Sam2ImageEncoder(spec.encoder)
        # SAM 2's prompt encoder is SAM's: same keys, same embedding of points, boxes and masks.
        self.sam_prompt_encoder = PromptEncoder(dim, spec.embedding_size, spec.image_size, spec.decoder.mask_in_chans)
        self.sam_mask_decoder = Sam2MaskDecoder(spec.decoder)
        # Added to the stride-16 features in image mode ("no memory"): a per-channel bias.
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, dim))

    def encode_image(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """[1, 3, 1024, 1024] -> image_embed [1, 256, 64, 64], high_res_feats_0 [1, 32, 256, 256],
        high_res_feats_1 [1, 64, 128, 128] (what SAM2ImagePredictor.set_image keeps)."""
        level0, level1, level2 = self.image_encoder(image)
        high_res_0, high_res_1 = self.sam_mask_decoder.project_high_res(level0, level1)
        image_embed = level2 + self.no_mem_embed.reshape(1, -1, 1, 1)
        return image_embed, high_res_0, high_res_1

    def decode(
        self,
        image_embed: torch.Tensor,
        high_res_feats_0: torch.Tensor,
        high_res_feats_1: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All four masks for B prompts (selection is the caller's: sam2_mask_decoder.select_masks).

        point_coords [B, N, 2] in the 1024 frame (padding point included; N may be 0 with a mask);
        point_labels [B, N]; mask_input [B or 1, 1, 256, 256]; has_mask_input [B or 1].
        Returns (low-res logits [B, 4, 256, 256], IoU [B, 4], object score logits [B, 1]), unclamped.
        """
        prompt_encoder = self.sam_prompt_encoder
        sparse = prompt_encoder.embed_points(point_coords, point_labels)
        dense = prompt_encoder.embed_mask(mask_input, has_mask_input)
        return self.sam_mask_decoder(
            image_embed,
            prompt_encoder.dense_positional_encoding(),
            sparse,
            dense,
            (high_res_feats_0, high_res_feats_1),
        )
