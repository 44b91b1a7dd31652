"""The torch modules behind each exported graph, with example feeds and validation tolerances.

Each graph's names and dynamic axes come from runtime/interface.py; the modules here only compute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sam_edge.export.modeling.sam import Sam, deploy_form
from sam_edge.export.modeling.split_decoder import DecoderImageStage, DecoderPromptStage
from sam_edge.runtime.interface import DECODER, DECODER_IMAGE, DECODER_OFFICIAL, DECODER_PROMPT, ENCODER, GraphInterface


class EncoderGraph(nn.Module):
    """image [1, 3, S, S] (normalized, padded) -> image_embeddings [1, 256, S/16, S/16], as exported.

    Traced from the encoder's deploy form (BatchNorm and parallel branches folded into single convs,
    where the encoder has them), so the graph is checked against :class:`LoadedEncoderGraph`, the
    encoder exactly as loaded from its checkpoint.
    """

    def __init__(self, sam: Sam) -> None:
        super().__init__()
        self.encoder = deploy_form(sam.image_encoder)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.encoder(image)


class LoadedEncoderGraph(nn.Module):
    """The reference for :class:`EncoderGraph`: the encoder with the checkpoint's own layers."""

    def __init__(self, sam: Sam) -> None:
        super().__init__()
        self.sam = sam

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.sam.encode_image(image)


class DecoderGraph(nn.Module):
    """Official decoder interface without orig_im_size -> (iou_predictions [B, 4], low_res_masks [B, 4, 256, 256])."""

    def __init__(self, sam: Sam) -> None:
        super().__init__()
        self.sam = sam

    def forward(self, image_embeddings, point_coords, point_labels, mask_input, has_mask_input):
        low_res, iou = self.sam.decode(image_embeddings, point_coords, point_labels, mask_input, has_mask_input)
        return iou, low_res


class OfficialDecoderGraph(nn.Module):
    """SAM's own ONNX decoder (return_single_mask=False): also upsamples all masks to orig_im_size (H, W)."""

    def __init__(self, sam: Sam) -> None:
        super().__init__()
        self.sam = sam
        self.image_size = sam.spec.image_size

    def forward(self, image_embeddings, point_coords, point_labels, mask_input, has_mask_input, orig_im_size):
        low_res, iou = self.sam.decode(image_embeddings, point_coords, point_labels, mask_input, has_mask_input)
        return self.upscale(low_res, orig_im_size), iou, low_res

    def upscale(self, low_res: torch.Tensor, orig_im_size: torch.Tensor) -> torch.Tensor:
        masks = F.interpolate(low_res, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        size = orig_im_size.to(torch.float32)
        input_size = torch.floor(size * (self.image_size / torch.max(size)) + 0.5).to(torch.int64)
        masks = masks[..., : input_size[0], : input_size[1]]
        original = orig_im_size.to(torch.int64)
        return F.interpolate(masks, size=(original[0], original[1]), mode="bilinear", align_corners=False)


@dataclass(frozen=True)
class GraphRecipe:
    """How to build, feed and check one exported graph.

    The graph is checked against ``reference_type`` (default: the module it is traced from) run on
    the feeds named ``reference_inputs`` (default: the graph's own inputs). The split decoder's
    prompt stage is checked against the whole reference decoder this way.
    """

    interface: GraphInterface
    module_type: type[nn.Module]
    atol: float  # max abs difference accepted between the graph and PyTorch
    output_atol: tuple[tuple[str, float], ...] = ()  # per-output exceptions to ``atol``
    reference_type: type[nn.Module] | None = None
    reference_inputs: tuple[str, ...] = ()

    def reference_module(self, sam: Sam) -> nn.Module:
        return (self.reference_type or self.module_type)(sam).eval()

    def reference_input_names(self) -> list[str]:
        return list(self.reference_inputs) or self.interface.input_names

    def graph_feeds(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph's own inputs out of ``feeds`` (which may also hold the reference's)."""
        return {name: feeds[name] for name in self.interface.input_names}

    def tolerances(self) -> dict[str, float]:
        """Output name -> max abs difference accepted against PyTorch."""
        exceptions = dict(self.output_atol)
        return {name: exceptions.get(name, self.atol) for name in self.interface.output_names}

    def example_feeds(self, sam: Sam, seed: int = 0) -> dict[str, np.ndarray]:
        return example_feeds(self.interface.part, sam, seed)


def example_feeds(part: str, sam: Sam, seed: int = 0) -> dict[str, np.ndarray]:
    """Feeds that exercise a graph: a random image, or 2 prompts (points + a box) with a mask input.

    The prompt stage's feeds also hold the decoder's, from which its image-stage inputs were computed.
    """
    if part == "decoder_prompt":
        feeds = example_feeds("decoder", sam, seed)
        stage = DecoderImageStage(sam).eval()
        with torch.no_grad():
            outputs = stage(*(torch.from_numpy(feeds[name]) for name in DECODER_IMAGE.input_names))
        return feeds | {name: out.numpy() for name, out in zip(DECODER_IMAGE.output_names, outputs)}
    rng = np.random.default_rng(seed)
    side = sam.spec.image_size
    if part == "encoder":
        return {"image": rng.standard_normal((1, 3, side, side)).astype(np.float32)}
    embedding_shape = sam.spec.embedding_shape
    coords = rng.uniform(0, side * 0.7, size=(2, 4, 2)).astype(np.float32)
    coords[:, 3] = coords[:, 2] + 50.0  # last two points form a box
    feeds = {
        "image_embeddings": rng.standard_normal(embedding_shape).astype(np.float32),
        "point_coords": coords,
        "point_labels": np.array([[1, 0, 2, 3], [1, -1, 2, 3]], dtype=np.float32),
        "mask_input": rng.standard_normal((2, 1, 256, 256)).astype(np.float32),
        "has_mask_input": np.array([1, 0], dtype=np.float32),
    }
    if part == "decoder_image":
        return {name: feeds[name] for name in DECODER_IMAGE.input_names}
    if part == "decoder_official":
        feeds["orig_im_size"] = np.array([600, 900], dtype=np.float32)
    return feeds


RECIPES = {
    "encoder": GraphRecipe(ENCODER, EncoderGraph, atol=1e-3, reference_type=LoadedEncoderGraph),
    "decoder": GraphRecipe(DECODER, DecoderGraph, atol=1e-4),
    # `masks` is low_res_masks resampled twice. ORT's Resize and torch round the float32 sampling coordinates
    # differently (scale out/in vs in/out), so they drift by ~1e-7 x pixel index: the max diff grows with
    # orig_im_size (1.5e-4 at 600x900 on random weights) while low_res_masks agrees to ~1e-5.
    "decoder_official": GraphRecipe(DECODER_OFFICIAL, OfficialDecoderGraph, atol=1e-4, output_atol=(("masks", 1e-3),)),
    "decoder_image": GraphRecipe(DECODER_IMAGE, DecoderImageStage, atol=1e-4),
    # Checked against the whole reference decoder (not only its own torch module): the algebra of the
    # split (reordered matmuls, dropped softmax-invariant terms) moves logits by ~1e-5.
    "decoder_prompt": GraphRecipe(
        DECODER_PROMPT,
        DecoderPromptStage,
        atol=1e-3,
        reference_type=DecoderGraph,
        reference_inputs=tuple(DECODER.input_names),
    ),
}
