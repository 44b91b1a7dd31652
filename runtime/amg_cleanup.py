"""``min_mask_region_area``: segment_anything's ``postprocess_small_regions`` on a MaskSet.

Each mask loses its holes, then its islands, smaller than the area (runtime/small_regions.py); then box
NMS (threshold max(box_nms_thresh, crop_nms_thresh)) runs again on the new boxes with score 1 for
masks that did not change and 0 for those that did, so an unchanged mask wins over a cleaned duplicate.
"""

from __future__ import annotations

import numpy as np

from sam_edge.runtime.amg_masks import MaskSet
from sam_edge.runtime.box_nms import nms
from sam_edge.runtime.small_regions import remove_small_regions


def clean_small_regions(data: MaskSet, min_area: int, nms_thresh: float) -> MaskSet:
    """The cleaned masks that survive the second NMS, in NMS order (masks and boxes replaced where changed)."""
    cleaned = [remove_small_regions(mask, min_area) for mask in data.masks]
    masks = [mask for mask, _ in cleaned]
    unchanged = np.array([not changed for _, changed in cleaned], dtype=np.float32)
    boxes = np.array([mask.box_xyxy() for mask in masks], dtype=np.int64).reshape(-1, 4)
    keep = nms(boxes, unchanged, nms_thresh)
    result = data.take(keep)
    result.masks = [masks[i] for i in keep]
    result.boxes = boxes[keep]
    return result
