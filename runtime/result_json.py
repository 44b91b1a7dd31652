"""A JSON-ready description of a prediction: per mask its score, stability, box, area and COCO RLE."""

from __future__ import annotations

import numpy as np

from sam_edge.runtime.mask_stats import encode_rle, mask_bbox_xywh


def prediction_record(
    result, image: str, model_id: str, point_coords=None, point_labels=None, box=None, timings: dict | None = None
) -> dict:
    """``result`` is a single-prompt Prediction (masks [C, H, W]); coordinates in original pixels."""
    masks = []
    for mask, score, stability in zip(result.masks, result.scores, result.stability_scores):
        masks.append(
            {
                "score": round(float(score), 6),
                "stability_score": round(float(stability), 6),
                "bbox_xywh": list(mask_bbox_xywh(mask)),
                "area": int(mask.sum()),
                "segmentation": encode_rle(mask),
            }
        )
    return {
        "image": image,
        "image_size_hw": list(result.masks.shape[-2:]),
        "model_id": model_id,
        "prompt": {
            "points": None if point_coords is None else np.asarray(point_coords).tolist(),
            "labels": None if point_labels is None else np.asarray(point_labels).astype(int).tolist(),
            "box": None if box is None else [float(v) for v in box],
        },
        "timings_ms": {k: round(v, 2) for k, v in (timings or {}).items()},
        "masks": masks,
    }
