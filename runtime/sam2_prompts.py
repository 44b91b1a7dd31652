"""SAM 2's decoder feeds: prompts validated as SAM's (runtime/prompts.py), laid out as SAM2ImagePredictor.

User-facing prompts are in the ORIGINAL image frame, as for SAM. The feeds differ from SAM's in two
ways (export/sam2_predictor.py, the reference): coordinates go to the squashed S x S frame
(runtime/sam2_transforms.py), and the tokens are box corners (labels 2, 3) first, then the clicks,
then a (0, 0) / -1 padding point on EVERY prompt (SAM pads only prompts without a box).
"""

from __future__ import annotations

import numpy as np

from sam_edge.runtime.prompts import DecoderFeeds, assemble_feeds, check_boxes, check_points, require_prompt
from sam_edge.runtime.sam2_transforms import to_squashed_frame


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
    require_prompt(point_coords, point_labels, boxes)
    parts_coords, parts_labels = [], []
    if boxes is not None:
        box_array = check_boxes(boxes, original_size, batched)
        parts_coords.append(to_squashed_frame(box_array.reshape(-1, 2, 2), original_size, image_size))
        parts_labels.append(np.tile(np.float32([2.0, 3.0]), (box_array.shape[0], 1)))
    if point_coords is not None:
        coords, labels = check_points(point_coords, point_labels, original_size, batched)
        parts_coords.append(to_squashed_frame(coords, original_size, image_size))
        parts_labels.append(labels.astype(np.float32))
    return assemble_feeds(parts_coords, parts_labels, mask_input, pad=True)
