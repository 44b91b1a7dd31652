"""Masks as the JSON the server sends: COCO RLE (pycocotools' string), score, box, area.

The RLE, box and area are the runtime's (``runtime/mask_stats.py``: ``encode_rle`` writes the same
counts string as ``pycocotools.mask.encode``; ``mask_bbox_xywh`` is COCO's x, y, w, h). Masks are
bool [H, W] in the original image frame.
"""

from __future__ import annotations

import math

from sam_edge.runtime.mask_stats import encode_rle, mask_bbox_xywh
from sam_edge.runtime.prediction import Prediction


def mask_fields(mask, score: float) -> dict:
    """``{"rle": {"size": [H, W], "counts": str}, "score", "bbox": [x, y, w, h], "area"}`` of one mask."""
    return {
        "rle": encode_rle(mask),
        "score": _number(score),
        "bbox": list(mask_bbox_xywh(mask)),
        "area": int(mask.sum()),
    }


def http_masks(prediction: Prediction) -> list[dict]:
    """Every mask of a single-prompt Prediction, with its stability score (as SAM's automatic mask
    generator computes it), for ``POST /v1/images/{id}/predict``. A Prediction of logits
    (``return_logits=True``, [C, H, W] float32) is cheapest: the masks (logits > 0) and the
    stability scores come from one upscaling instead of two."""
    masks = prediction.masks if prediction.masks.dtype == bool else prediction.masks > 0.0
    records = []
    for mask, score, stability in zip(masks, prediction.scores, prediction.stability_scores):
        record = mask_fields(mask, score)
        record["stability"] = _number(stability)
        records.append(record)
    return records


def stream_mask(prediction: Prediction, source: str, **fields) -> dict:
    """A ``{"type": "mask", "source", ..., "rle", "score", "bbox", "area"}`` message of a one-mask Prediction;
    ``fields`` (id, t, x, y, frame_id, dropped, ...) come before the mask's own."""
    return {"type": "mask", "source": source, **fields, **mask_fields(prediction.masks[0], prediction.scores[0])}


def _number(value) -> float:
    """A float JSON can hold (the model's scores are finite; a NaN would make invalid JSON)."""
    value = float(value)
    return round(value, 6) if math.isfinite(value) else 0.0
