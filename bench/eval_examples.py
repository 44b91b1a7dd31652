"""The predictions ``sam-edge eval`` keeps for its examples grid: which instances, and what of each is kept.

Masks are bool [H, W] in the scene's original frame; points (x, y) and boxes (x0, y0, x1, y1) in its pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sam_edge.scenes import Scene


@dataclass(frozen=True)
class Example:
    """One prediction kept for the examples grid: prompt and masks in the scene's original frame."""

    metric: str
    seed: int
    instance: int  # index into the scene's instance_masks
    kind: str  # the instance's shape kind
    image: np.ndarray  # uint8 [H, W, 3]
    target: np.ndarray  # bool [H, W]
    predicted: np.ndarray  # bool [H, W]
    point_coords: np.ndarray | None  # [N, 2] (x, y)
    point_labels: np.ndarray | None  # [N]
    box: np.ndarray | None  # [4] x0, y0, x1, y1
    iou: float


def scene_examples(metric, scene, keep, masks, ious, coords=None, labels=None, boxes=None) -> list[Example]:
    """Examples for instances ``keep``; masks [K, H, W], ious [K], coords [K, N, 2], labels [K, N], boxes [K, 4]."""

    def row(array, k):
        return None if array is None else array[k]

    return [
        Example(
            metric,
            scene.seed,
            k,
            scene.kinds[k],
            scene.image,
            scene.instance_masks[k],
            masks[k],
            row(coords, k),
            row(labels, k),
            row(boxes, k),
            float(ious[k]),
        )
        for k in keep
    ]


def pick_examples(scene: Scene, wanted: int) -> tuple[int, ...]:
    """``wanted`` instances of ``scene`` for the examples grid, spread over the area quantiles
    (i + 1) / (wanted + 1)."""
    order = np.argsort(scene.visible_areas, kind="stable")
    picks = [int(order[(i + 1) * len(order) // (wanted + 1)]) for i in range(max(0, wanted))]
    return tuple(dict.fromkeys(picks))
