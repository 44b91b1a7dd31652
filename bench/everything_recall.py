"""Segment-everything recall on the held-out scenes (``sam-edge eval --everything-images N``).

The runtime's automatic mask generator (runtime/automatic_mask_generator.py, docs/everything.md) runs
with the official defaults (a 32 x 32 grid, ``pred_iou_thresh`` 0.88, ``stability_score_thresh`` 0.95,
the rest default) on each of the first N eval scenes. Every ground-truth object (the visible part of
each instance, ``Scene.instance_masks``) counts once: its best IoU is the highest IoU of any generated
mask with it, and it is recalled when that is >= ``RECALL_IOU``. Reported: recall (recalled objects /
all objects, pooled over the images), the mean best IoU per object (0 for an object no mask touches),
and the masks generated per image.

Masks are bool [H, W] in the scene's original frame. 1024 prompts per image: tens of seconds each on
two cores, hence few images by default.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Sequence

import numpy as np

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.scenes import Scene

from .timing import time_once

RECALL_IOU = 0.5  # a ground-truth object is found when some generated mask overlaps it at least this much
EVERYTHING_RECALL_TARGET = 0.6
DEFAULT_EVERYTHING_IMAGES = 20
OFFICIAL_POINTS_PER_SIDE = 32
OFFICIAL_THRESHOLDS = {"pred_iou_thresh": 0.88, "stability_score_thresh": 0.95}  # segment_anything's defaults

Progress = Callable[[int, int], None]  # (prompts decoded so far, prompts over all images)


def best_ious(targets: np.ndarray, masks) -> np.ndarray:
    """Best IoU of each ground-truth object with any generated mask -> float64 [K] (0 with no masks).

    targets: bool [K, H, W]; masks: bool [M, H, W] or a sequence of M bool [H, W] arrays, same frame.
    Each mask is compared inside its own bounding window (outside it the mask is empty, so the
    intersection there is 0), which keeps the cost at K x the mask's box per mask.
    """
    targets = np.asarray(targets, dtype=bool)
    if targets.ndim != 3:
        raise InvalidInputError(f"targets must be bool [K, H, W]; got shape {targets.shape}")
    target_areas = targets.sum(axis=(1, 2))
    best = np.zeros(len(targets))
    for mask in masks:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != targets.shape[1:]:
            raise InvalidInputError(f"generated mask {mask.shape} and targets {targets.shape[1:]} differ in [H, W]")
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if len(rows) == 0:
            continue  # an empty mask overlaps nothing
        window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        inside = mask[window]
        intersection = (targets[(slice(None), *window)] & inside).sum(axis=(1, 2))
        union = target_areas + inside.sum() - intersection
        best = np.maximum(best, intersection / np.maximum(union, 1))
    return best


@dataclass
class EverythingRecall:
    """Best IoU per ground-truth object (pooled over images), masks and seconds per image, filter counts."""

    points_per_side: int = OFFICIAL_POINTS_PER_SIDE
    seeds: list[int] = field(default_factory=list)
    best_ious: list[float] = field(default_factory=list)
    masks_per_image: list[int] = field(default_factory=list)
    seconds_per_image: list[float] = field(default_factory=list)
    candidates: int = 0  # candidate masks the decoder gave, all images
    removed: dict[str, int] = field(default_factory=dict)  # filter -> candidates it removed, all images

    @property
    def images(self) -> int:
        return len(self.seeds)

    @property
    def objects(self) -> int:
        return len(self.best_ious)

    @property
    def matched(self) -> int:
        return int(np.count_nonzero(np.asarray(self.best_ious) >= RECALL_IOU))

    def recall(self) -> float:
        """Share of ground-truth objects some generated mask matches at IoU >= RECALL_IOU (NaN with no objects)."""
        return self.matched / self.objects if self.objects else float("nan")

    def official(self) -> bool:
        """True when the settings are the official defaults, the ones the target is stated for."""
        return self.points_per_side == OFFICIAL_POINTS_PER_SIDE

    def add(self, scene: Scene, masks, seconds: float = 0.0, counts=None) -> None:
        """One image: its generated masks (bool [H, W] each), the generator's seconds and FilterCounts."""
        self.seeds.append(scene.seed)
        self.best_ious.extend(best_ious(scene.instance_masks, masks).tolist())
        self.masks_per_image.append(len(masks))
        self.seconds_per_image.append(float(seconds))
        if counts is not None:
            self.candidates += counts.candidates
            for name, count in counts.removed.items():
                self.removed[name] = self.removed.get(name, 0) + int(count)

    def summary(self) -> dict:
        """JSON-ready numbers and settings (recall None when no object was scored)."""
        masks = self.masks_per_image
        return {
            "images": self.images,
            "seeds": self.seeds,
            "objects": self.objects,
            "matched": self.matched,
            "recall": None if not self.objects else self.recall(),
            "recall_iou": RECALL_IOU,
            "mean_best_iou": float(np.mean(self.best_ious)) if self.best_ious else None,
            "masks_per_image": {
                "mean": float(np.mean(masks)) if masks else 0.0,
                "min": min(masks, default=0),
                "max": max(masks, default=0),
                "per_image": masks,
            },
            "seconds_per_image_median": statistics.median(self.seconds_per_image) if self.seconds_per_image else 0.0,
            "settings": {"points_per_side": self.points_per_side, **OFFICIAL_THRESHOLDS, "others": "official defaults"},
            "official_settings": self.official(),
            "filters": {"candidates": self.candidates, "removed": self.removed},
        }


def evaluate_everything(
    predictor,
    scenes: Sequence[Scene],
    points_per_side: int = OFFICIAL_POINTS_PER_SIDE,
    progress: Progress | None = None,
) -> EverythingRecall:
    """Run the automatic mask generator on each scene with ``predictor`` (a SamPredictor) and score it.

    ``progress(done, total)`` counts prompts over all scenes (one grid of points_per_side**2 per scene).
    """
    from sam_edge.runtime.automatic_mask_generator import SamAutomaticMaskGenerator

    generator = SamAutomaticMaskGenerator(predictor, points_per_side=points_per_side, **OFFICIAL_THRESHOLDS)
    per_image = len(generator.point_grids[0])  # crop_n_layers = 0: one grid per image
    report = EverythingRecall(points_per_side)
    for index, scene in enumerate(scenes):
        shifted = None if progress is None else _shifted(progress, index * per_image, per_image * len(scenes))
        records: list[dict] = []
        seconds = time_once(partial(_generate_into, records, generator, scene.image, shifted))
        report.add(scene, [record["segmentation"] for record in records], seconds, generator.last_counts)
    return report


def _generate_into(records: list[dict], generator, image: np.ndarray, progress: Progress | None) -> None:
    """Append the generator's records for ``image`` (uint8 [H, W, 3]) to ``records``."""
    records.extend(generator.generate(image, progress=progress))


def _shifted(progress: Progress, offset: int, total: int) -> Progress:
    """One image's ``(done, per_image)`` calls as ``(offset + done, total)`` calls over all images."""
    return lambda done, _per_image: progress(offset + done, total)
