"""SAM 2's decoder feeds: prompts validated as SAM's (runtime/prompts.py), laid out as SAM2ImagePredictor.

User-facing prompts are in the ORIGINAL image frame, as for SAM. The feeds differ from SAM's in two
ways (export/sam2_predictor.py, the reference): coordinates go to the squashed S x S frame
(runtime/sam2_transforms.py), and the tokens are box corners (labels 2, 3) first, then the clicks,
then a (0, 0) / -1 padding point on EVERY prompt (SAM pads only prompts without a box).
"""

from __future__ import annotations

import numpy as np

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.prompts import DecoderFeeds, check_boxes, check_mask_input, check_points
from sam_edge.runtime.sam2_transforms import LOW_RES_SIDE, to_squashed_frame


def build_sam2_feeds(
    original_size: tuple[int, int],
    image_size: int,
    point_coords=None,
    point_labels=None,
    boxes=None,
    mask_input=None,
    batched: bool = False,
) -> DecoderFeeds:
    """Validate prompts (original frame) and build SAM 2's decoder feeds (squashed frame) for B prompts.

    The same prompts as SAM's ``build_decoder_feeds`` are accepted (points [B, N, 2] + labels [B, N]
    and / or boxes [B, 4], a mask input [1 or B, 1, 256, 256]); a mask input alone is refused as there.
    """
    if point_coords is None and boxes is None:
        if point_labels is not None:
            raise InvalidInputError("point_labels given without point_coords")
        raise InvalidInputError(
            "empty prompt: give point_coords with point_labels and/or a box (mask_input alone is not accepted)"
        )
    parts_coords, parts_labels = [], []
    if boxes is not None:
        box_array = check_boxes(boxes, original_size, batched)
        parts_coords.append(to_squashed_frame(box_array.reshape(-1, 2, 2), original_size, image_size))
        parts_labels.append(np.tile(np.float32([2.0, 3.0]), (box_array.shape[0], 1)))
    if point_coords is not None:
        coords, labels = check_points(point_coords, point_labels, original_size, batched)
        parts_coords.append(to_squashed_frame(coords, original_size, image_size))
        parts_labels.append(labels.astype(np.float32))
    batch = _common_batch(parts_coords)
    parts_coords.append(np.zeros((batch, 1, 2), np.float32))
    parts_labels.append(-np.ones((batch, 1), np.float32))
    coords = np.concatenate([np.broadcast_to(c, (batch,) + c.shape[1:]) for c in parts_coords], axis=1)
    labels = np.concatenate([np.broadcast_to(part, (batch,) + part.shape[1:]) for part in parts_labels], axis=1)
    if mask_input is None:
        masks = np.zeros((batch, 1, LOW_RES_SIDE, LOW_RES_SIDE), np.float32)
        has_mask = np.zeros(batch, np.float32)
    else:
        masks = check_mask_input(mask_input, batch)
        has_mask = np.ones(batch, np.float32)
    return DecoderFeeds(coords.astype(np.float32), labels.astype(np.float32), masks, has_mask)


def _common_batch(parts: list[np.ndarray]) -> int:
    """The prompt count B of boxes and points (either may hold 1, broadcast to the other's B)."""
    sizes = {part.shape[0] for part in parts}
    if len(sizes - {1}) > 1:
        raise InvalidInputError(
            f"points and boxes hold different numbers of prompts: {sorted(sizes)}; give equal counts (or 1)"
        )
    return max(sizes)
