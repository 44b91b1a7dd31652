"""Masks as the JSON the server sends: COCO RLE (pycocotools' string), score, stability, box, area.

A reply carries run-length codes, never a dense mask, so the server upscales each returned mask only
inside its window (``runtime/mask_windows.py``: the window holds every upscaled logit above the
lowest threshold asked for, so the counts, box and area are those of the whole frame) instead of
building [C, H, W] frames and scanning them. The RLE counts string is the one
``pycocotools.mask.encode`` writes; the box is COCO's x, y, w, h. Frames are the original image's.
"""

from __future__ import annotations

import math

import numpy as np

from sam_edge.runtime.automatic_mask_generator import MASK_THRESHOLD
from sam_edge.runtime.mask_stats import encode_rle, mask_bbox_xywh
from sam_edge.runtime.mask_upscale import MaskUpscaler
from sam_edge.runtime.mask_windows import WindowMask, upscale_windowed
from sam_edge.runtime.prediction import Prediction
from sam_edge.runtime.rle import coco_rle

# SAM's automatic mask generator scores stability as the IoU of the masks at logit +1 and -1.
STABILITY_OFFSET = 1.0


def window_fields(window: WindowMask, score: float) -> dict:
    """``{"rle": {"size": [H, W], "counts": str}, "score", "bbox": [x, y, w, h], "area"}`` of a windowed mask."""
    y0, y1, x0, x1 = window.box_half_open()
    return {
        "rle": coco_rle(window.counts(), window.image_size),
        "score": _number(score),
        "bbox": [x0, y0, x1 - x0, y1 - y0],
        "area": window.area,
    }


def http_masks(upscaler: MaskUpscaler, scores: np.ndarray, low_res: np.ndarray) -> list[dict]:
    """Every mask of one prompt with its stability score, for ``POST /v1/images/{id}/predict``.

    ``scores`` float32 [C] and ``low_res`` float32 [C, 256, 256] as ``SamPredictor.decode_low_res``
    returns them for one prompt; the records equal those of ``predict``'s full-frame masks.
    """
    records = []
    for result, score in zip(upscale_windowed(upscaler, low_res, MASK_THRESHOLD, STABILITY_OFFSET), scores):
        record = window_fields(result.mask, score)
        record["stability"] = _number(result.stability)
        records.append(record)
    return records


def stream_low_res_mask(upscaler: MaskUpscaler, score: float, low_res: np.ndarray, source: str, **fields) -> dict:
    """A ``{"type": "mask", "source", ..., "rle", "score", "bbox", "area"}`` message of one mask's low-res
    logits [1, 256, 256]; ``fields`` (id, t, x, y, dropped, ...) come before the mask's own."""
    (result,) = upscale_windowed(upscaler, low_res, MASK_THRESHOLD, 0.0)
    return {"type": "mask", "source": source, **fields, **window_fields(result.mask, score)}


def stream_mask(prediction: Prediction, source: str, **fields) -> dict:
    """As ``stream_low_res_mask``, of a one-mask Prediction whose full-frame mask is already built
    (a tracking step needs it for the next frame's box)."""
    mask = prediction.masks[0]
    record = {"rle": encode_rle(mask), "score": _number(prediction.scores[0])}
    record.update(bbox=list(mask_bbox_xywh(mask)), area=int(mask.sum()))
    return {"type": "mask", "source": source, **fields, **record}


def _number(value) -> float:
    """A float JSON can hold (the model's scores are finite; a 0 / 0 stability would make invalid JSON)."""
    value = float(value)
    return round(value, 6) if math.isfinite(value) else 0.0
