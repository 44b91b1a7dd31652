"""A PyTorch-eager SAM 2 image predictor over our modeling, with SAM2ImagePredictor's contract.

It is the reference the exported SAM 2 graphs are checked against. Frames and steps, as the official
predictor (each op in the same order, so float32 results agree bit for bit where the math does):
- image: HxWx3 uint8 RGB -> float in [0, 1] -> bilinear resize to 1024 x 1024 (aspect NOT kept, no
  padding; antialiased when shrinking) -> ImageNet mean/std;
- prompts: original-frame (x, y) -> x / W * 1024, y / H * 1024; box corners (labels 2, 3) go before the
  points, and a (0, 0) / -1 padding point is appended to every point or box prompt (SAM appends it
  only without a box); a mask-only prompt has no sparse token at all;
- masks: the four decoder masks -> select_masks (multimask: tokens 1..3; single: token 0 or, when
  token 0 is unstable, the best multimask token) -> full-res logits straight from 256 x 256 to H x W
  (bilinear), and low-res logits clamped to [-32, 32].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sam_edge.export.modeling.sam2 import Sam2
from sam_edge.export.modeling.sam2_mask_decoder import clamp_low_res, select_masks
from sam_edge.runtime.errors import NoImageSetError
from sam_edge.runtime.image_io import load_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # of [0, 1] pixels; SAM's (123.675, 116.28, 103.53) / 255
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocess_sam2(rgb: np.ndarray, image_size: int = 1024) -> torch.Tensor:
    """HxWx3 uint8 -> [1, 3, S, S] float32, as SAM2Transforms (ToTensor, Resize((S, S)), Normalize)."""
    image = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div(255)[None]
    if tuple(image.shape[-2:]) != (image_size, image_size):  # torchvision's Resize skips an identity resize
        image = F.interpolate(
            image, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True
        )
    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    return (image - mean) / std


def to_input_frame(coords: torch.Tensor, original_size: tuple[int, int], image_size: int) -> torch.Tensor:
    """[..., 2] original-frame (x, y) -> the squashed S x S frame: x / W * S, y / H * S (the reference's order)."""
    height, width = original_size
    scaled = coords.clone()
    scaled[..., 0] = scaled[..., 0] / width
    scaled[..., 1] = scaled[..., 1] / height
    return scaled * image_size


@dataclass(frozen=True)
class Sam2Prediction:
    """Outputs for B prompts: full-res logits [B, C, H, W], scores [B, C], clamped low-res logits
    [B, C, 256, 256], the decoder token behind each mask [B, C] and object score logits [B, 1]."""

    logits: torch.Tensor
    scores: torch.Tensor
    low_res: torch.Tensor
    tokens: torch.Tensor
    object_scores: torch.Tensor


class TorchSam2Predictor:
    """set_image once, then predict per prompt; all tensors stay on the CPU."""

    def __init__(self, model: Sam2) -> None:
        self.model = model.eval()
        self.image_size = model.spec.image_size
        self.reset_image()

    def reset_image(self) -> None:
        self.features: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.original_size: tuple[int, int] | None = None

    @property
    def is_image_set(self) -> bool:
        return self.features is not None

    @torch.no_grad()
    def set_image(self, image) -> None:
        """image: path, PIL image or array (see runtime.image_io.load_image)."""
        rgb = load_image(image)
        self.original_size = rgb.shape[:2]
        self.features = self.model.encode_image(preprocess_sam2(rgb, self.image_size))

    def prompt_feeds(self, point_coords, point_labels, boxes, mask_input) -> list[torch.Tensor]:
        """Decoder inputs for B prompts: coords [B, N, 2], labels [B, N], mask_input, has_mask_input.

        point_coords [B, P, 2] / point_labels [B, P] and boxes [B, 4] in the original frame, any may be None.
        """
        coords = torch.zeros(1, 0, 2)
        labels = torch.zeros(1, 0)
        if point_coords is not None:
            coords = to_input_frame(
                torch.as_tensor(point_coords, dtype=torch.float32), self.original_size, self.image_size
            )
            labels = torch.as_tensor(point_labels, dtype=torch.float32)
        if boxes is not None:
            corners = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 2, 2)
            corners = to_input_frame(corners, self.original_size, self.image_size)
            corner_labels = torch.tensor([[2.0, 3.0]]).expand(corners.shape[0], -1)
            coords = torch.cat([corners, coords.expand(corners.shape[0], -1, -1)], dim=1)
            labels = torch.cat([corner_labels, labels.expand(corners.shape[0], -1)], dim=1)
        if coords.shape[1] > 0:  # SAM 2 pads every point / box prompt
            batch = coords.shape[0]
            coords = torch.cat([coords, torch.zeros(batch, 1, 2)], dim=1)
            labels = torch.cat([labels, -torch.ones(batch, 1)], dim=1)
        if mask_input is None:
            return [coords, labels, torch.zeros(1, 1, 256, 256), torch.zeros(1)]
        mask = torch.as_tensor(mask_input, dtype=torch.float32)
        mask = mask[None] if mask.ndim == 3 else mask
        return [coords, labels, mask, torch.ones(mask.shape[0])]

    @torch.no_grad()
    def decode(self, point_coords=None, point_labels=None, boxes=None, mask_input=None, multimask_output=True):
        """B prompts in one decoder call -> Sam2Prediction."""
        if self.features is None:
            raise NoImageSetError("no image set: call set_image(image) before predict")
        if point_coords is not None and np.ndim(point_coords) == 2:
            point_coords, point_labels = np.asarray(point_coords)[None], np.asarray(point_labels)[None]
        masks, iou, object_scores = self.model.decode(
            *self.features, *self.prompt_feeds(point_coords, point_labels, boxes, mask_input)
        )
        masks, scores, tokens = select_masks(masks, iou, multimask_output, self.model.spec.decoder)
        logits = F.interpolate(masks, self.original_size, mode="bilinear", align_corners=False)
        return Sam2Prediction(logits, scores, clamp_low_res(masks), tokens, object_scores)

    def predict(
        self,
        point_coords=None,
        point_labels=None,
        box=None,
        mask_input=None,
        multimask_output=True,
        return_logits=False,
    ):
        """One prompt: (masks [C, H, W] bool or logits, scores [C], low-res logits [C, 256, 256]) as numpy."""
        boxes = None if box is None else np.asarray(box, dtype=np.float32).reshape(1, 4)
        result = self.decode(point_coords, point_labels, boxes, mask_input, multimask_output)
        masks = result.logits if return_logits else result.logits > 0.0
        return masks[0].numpy(), result.scores[0].numpy(), result.low_res[0].numpy()

    def predict_batch(
        self,
        point_coords=None,
        point_labels=None,
        boxes=None,
        mask_input=None,
        multimask_output=True,
        return_logits=False,
    ):
        """B prompts: masks [B, C, H, W], scores [B, C], low-res logits [B, C, 256, 256] as numpy."""
        result = self.decode(point_coords, point_labels, boxes, mask_input, multimask_output)
        masks = result.logits if return_logits else result.logits > 0.0
        return masks.numpy(), result.scores.numpy(), result.low_res.numpy()
