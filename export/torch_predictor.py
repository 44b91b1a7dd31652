"""A PyTorch-eager predictor over our modeling: the reference the exported graphs and the runtime
are checked against, and the "PyTorch eager" baseline of the benchmarks.

Same contract as SamPredictor (original-frame prompts; masks [C, H, W] bool, scores [C] float32,
low-res logits [C, 256, 256] float32). Pre-processing and prompt feeds come from the runtime (numpy);
post-processing is torch's interpolate, as in the official code, so it also checks the runtime's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sam_edge.export.modeling.sam import Sam
from sam_edge.runtime.errors import NoImageSetError
from sam_edge.runtime.image_io import load_image
from sam_edge.runtime.prompts import build_decoder_feeds
from sam_edge.runtime.transforms import PIXEL_MEAN, PIXEL_STD, normalize_and_pad, preprocess_shape, resize_longest_side


class TorchSamPredictor:
    """set_image once, then predict per prompt; all tensors stay on the CPU."""

    def __init__(self, model: Sam) -> None:
        self.model = model.eval()
        self.image_size = model.spec.image_size
        self.reset_image()

    def reset_image(self) -> None:
        self.embedding: torch.Tensor | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    @property
    def is_image_set(self) -> bool:
        return self.embedding is not None

    @torch.no_grad()
    def set_image(self, image) -> None:
        """image: path, PIL image or array (see runtime.image_io.load_image)."""
        rgb = load_image(image)
        self.original_size = rgb.shape[:2]
        self.input_size = preprocess_shape(*self.original_size, self.image_size)
        resized = resize_longest_side(rgb, self.image_size)
        tensor = torch.from_numpy(normalize_and_pad(resized, self.image_size, PIXEL_MEAN, PIXEL_STD))
        self.embedding = self.model.encode_image(tensor)

    @torch.no_grad()
    def predict(
        self,
        point_coords=None,
        point_labels=None,
        box=None,
        mask_input=None,
        multimask_output=True,
        return_logits=False,
    ):
        """Returns (masks [C, H, W], scores [C], low-res logits [C, 256, 256]) as numpy arrays."""
        masks, scores, logits = self.predict_batch(
            point_coords, point_labels, box, mask_input, multimask_output, return_logits, batched=False
        )
        return masks[0], scores[0], logits[0]

    @torch.no_grad()
    def predict_batch(
        self,
        point_coords=None,
        point_labels=None,
        boxes=None,
        mask_input=None,
        multimask_output=True,
        return_logits=False,
        batched=True,
    ):
        """B prompts in one decoder call: masks [B, C, H, W], scores [B, C], logits [B, C, 256, 256]."""
        if self.embedding is None:
            raise NoImageSetError("no image set: call set_image(image) before predict")
        feeds = build_decoder_feeds(
            self.original_size, self.input_size, point_coords, point_labels, boxes, mask_input, batched
        )
        low_res, scores = self.model.decode(
            self.embedding,
            *(
                torch.from_numpy(a)
                for a in (feeds.point_coords, feeds.point_labels, feeds.mask_input, feeds.has_mask_input)
            ),
        )
        tokens = slice(1, None) if multimask_output else slice(0, 1)
        low_res, scores = low_res[:, tokens], scores[:, tokens]
        masks = self.postprocess(low_res)
        masks = masks if return_logits else masks > 0.0
        return masks.numpy(), scores.numpy(), low_res.numpy()

    def postprocess(self, low_res: torch.Tensor) -> torch.Tensor:
        """Low-res logits [B, C, 256, 256] -> logits [B, C, H, W] in the original frame (official order)."""
        masks = F.interpolate(low_res, (self.image_size, self.image_size), mode="bilinear", align_corners=False)
        masks = masks[..., : self.input_size[0], : self.input_size[1]]
        return F.interpolate(masks, self.original_size, mode="bilinear", align_corners=False)
