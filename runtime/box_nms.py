"""Greedy box non-maximum suppression in numpy, the same decisions as torchvision's ``nms``.

Boxes are float [N, 4] (x0, y0, x1, y1) in pixels; segment_anything's masks give integer boxes whose
x1 / y1 are the last column / row of the mask (inclusive), and areas are (x1 - x0) * (y1 - y0) as
torchvision computes them. Arithmetic is float32 in torchvision's order, and an overlap suppresses
when it is strictly greater than the threshold (compared in float64, as C++ promotes it).
"""

from __future__ import annotations

import numpy as np


def box_area(boxes: np.ndarray) -> np.ndarray:
    """(x1 - x0) * (y1 - y0) of [N, 4] XYXY boxes, in the boxes' dtype."""
    boxes = np.asarray(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices (int64) of the boxes kept, by decreasing score (ties keep their input order).

    A box is dropped when its IoU with an already kept, higher-scored box exceeds ``iou_threshold``.
    ``boxes`` [N, 4] XYXY (cast to float32), ``scores`` [N].
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = (np.ascontiguousarray(boxes[order, k]) for k in range(4))
    areas = (x1 - x0) * (y1 - y0)
    suppressed = np.zeros(order.size, dtype=bool)
    zero = np.float32(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(order.size):
            if suppressed[i]:
                continue
            rest = slice(i + 1, None)
            width = np.maximum(zero, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]))
            height = np.maximum(zero, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]))
            inter = width * height
            overlap = inter / (areas[i] + areas[rest] - inter)
            suppressed[rest] |= overlap.astype(np.float64) > float(iou_threshold)
    return order[~suppressed].astype(np.int64)
