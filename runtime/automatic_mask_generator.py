"""Segment everything: SAM's automatic mask generator on the torch-free runtime.

The same constructor arguments, defaults, records and filters as segment_anything's
``SamAutomaticMaskGenerator`` (docs/everything.md), with the work done only where it decides something:

- prompts go to the decoder ``points_per_batch`` at a time and come back as low-res logits only;
- the predicted-IoU filter runs on the decoder's scores, before anything is upscaled;
- with a stability filter, each remaining mask is upscaled only inside the window that holds every
  logit above ``mask_threshold - stability_score_offset`` (exact: outside it the upscaled logits are
  below); its stability score, box and mask come from that window, so they equal the full-frame ones;
- without one (``stability_score_thresh=0``) only the box decides before NMS: it is found exactly from
  bands along the window's edges (runtime/deferred_masks.py), and only NMS survivors are upscaled;
- crop-edge and NMS filters run on those boxes; only the survivors are run-length encoded (from
  their window) or, for ``output_mode="binary_mask"``, pasted into a full-frame array.

Coordinates: points (x, y) and boxes in original image pixels; records' ``bbox`` and ``crop_box`` XYWH.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from sam_edge.runtime.amg_grid import crop_boxes, near_crop_edge
from sam_edge.runtime.amg_masks import FilterCounts, MaskSet, mask_records, window_set
from sam_edge.runtime.amg_settings import AmgSettings
from sam_edge.runtime.box_nms import box_area, nms
from sam_edge.runtime.deferred_masks import PendingMask, band_boxes, materialize, pending_masks
from sam_edge.runtime.image_io import load_image
from sam_edge.runtime.mask_windows import upscale_windowed
from sam_edge.runtime.predictor import SamPredictor

MASK_THRESHOLD = 0.0  # segment_anything's Sam.mask_threshold: a pixel is in the mask when its logit > 0

# Low-res logits that candidates waiting for NMS may hold per crop (with stability_score_thresh = 0):
# a 32 x 32 grid whose 3072 masks all span a 1500 x 1000 image holds ~0.55 GB (the official code holds
# ~2 GB of full-resolution logits per batch). Beyond it they are upscaled at once: same records, more work.
PENDING_BYTES = 2**30
Progress = Callable[[int, int], None]  # (prompts decoded so far, prompts in all crops)


class SamAutomaticMaskGenerator:
    """Masks for everything in an image, from a grid of point prompts (segment_anything's API).

    ``model``: a ``SamPredictor``, or what ``SamPredictor(model)`` opens (None = the bundled default
    model, a bundled name, or a directory written by ``sam-edge export``). The other arguments are the
    official ones, with the official defaults and meaning (``AmgSettings``); ``min_mask_region_area``
    > 0 needs scipy (``pip install 'sam-edge[everything]'``). After ``generate``, ``last_counts``
    says how many candidate masks each filter removed.
    """

    def __init__(
        self,
        model: SamPredictor | str | os.PathLike | None = None,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
    ) -> None:
        self.settings = AmgSettings(
            points_per_side,
            points_per_batch,
            pred_iou_thresh,
            stability_score_thresh,
            stability_score_offset,
            box_nms_thresh,
            crop_n_layers,
            crop_nms_thresh,
            crop_overlap_ratio,
            crop_n_points_downscale_factor,
            point_grids,
            min_mask_region_area,
            output_mode,
        )
        if min_mask_region_area > 0:
            from sam_edge.runtime.small_regions import require_scipy

            require_scipy()
        self.predictor = model if isinstance(model, SamPredictor) else SamPredictor(model)
        self.point_grids = self.settings.grids
        self.last_counts = FilterCounts()

    def generate(self, image, progress: Progress | None = None) -> list[dict]:
        """Records of every mask found in ``image`` (an HxWx3 uint8 RGB array, as the official, or a path /
        PIL image / any array ``SamPredictor.set_image`` takes); an empty list when no mask survives.

        Each record: ``segmentation`` (bool [H, W], or an RLE dict per output_mode), ``area`` (int),
        ``bbox`` [x, y, w, h], ``predicted_iou``, ``point_coords`` [[x, y]], ``stability_score``,
        ``crop_box`` [x, y, w, h]. ``progress(done, total)`` is called after each decoder call.
        """
        rgb = load_image(image, self.predictor.max_pixels)
        image_size = rgb.shape[:2]
        boxes, layers = crop_boxes(image_size, self.settings.crop_n_layers, self.settings.crop_overlap_ratio)
        self.last_counts = counts = FilterCounts()
        total = sum(len(self.point_grids[layer]) for layer in layers)
        tracker = _Tracker(progress, total)
        crops = [self._process_crop(rgb, box, layer, counts, tracker) for box, layer in zip(boxes, layers)]
        data = MaskSet.concatenate(crops)
        if len(boxes) > 1 and len(data):
            scores = np.float32(1.0) / box_area(data.crop_boxes).astype(np.float32)  # prefer masks from smaller crops
            keep = nms(data.boxes, scores, self.settings.crop_nms_thresh)
            counts.remove("crop_nms_thresh", len(data) - len(keep))
            data = data.take(keep)
        if self.settings.min_mask_region_area > 0 and len(data):
            from sam_edge.runtime.amg_cleanup import clean_small_regions

            before = len(data)
            nms_thresh = max(self.settings.box_nms_thresh, self.settings.crop_nms_thresh)
            data = clean_small_regions(data, self.settings.min_mask_region_area, nms_thresh)
            counts.remove("min_mask_region_area", before - len(data))
        return mask_records(data, self.settings.output_mode)

    def _process_crop(
        self, rgb: np.ndarray, crop_box: list[int], layer: int, counts: FilterCounts, tracker: "_Tracker"
    ) -> MaskSet:
        """Masks of one crop (embedding of the crop, its grid in batches, NMS), in the original frame."""
        x0, y0, x1, y1 = crop_box
        self.predictor.set_image(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
        crop_size = (y1 - y0, x1 - x0)
        points = self.point_grids[layer] * np.array(crop_size)[None, ::-1]
        upscaler = self.predictor.mask_upscaler()
        batch = self.settings.points_per_batch
        parts = []
        for start in range(0, len(points), batch):
            parts.append(self._process_batch(points[start : start + batch], crop_box, rgb.shape[:2], upscaler, counts))
            tracker.advance(len(points[start : start + batch]))
            if sum(pending_bytes(part) for part in parts) > PENDING_BYTES:
                parts = [self._materialized(part, upscaler) for part in parts]
        self.predictor.reset_image()
        data = MaskSet.concatenate(parts)
        keep = nms(data.boxes, data.iou_preds, self.settings.box_nms_thresh)
        counts.remove("box_nms_thresh", len(data) - len(keep))
        return self._materialized(data.take(keep), upscaler).uncropped(crop_box, rgb.shape[:2])

    def _materialized(self, data: MaskSet, upscaler) -> MaskSet:
        """``data`` with every PendingMask replaced by its mask and stability score (boxes are already exact)."""
        for i, mask in enumerate(data.masks):
            if isinstance(mask, PendingMask):
                result = materialize(upscaler, mask, MASK_THRESHOLD, self.settings.stability_score_offset)
                data.masks[i], data.stability[i] = result.mask, result.stability
        return data

    def _process_batch(
        self, points: np.ndarray, crop_box: list[int], image_size: tuple[int, int], upscaler, counts: FilterCounts
    ) -> MaskSet:
        """One decoder call for up to points_per_batch prompts, then the filters, cheapest first."""
        settings = self.settings
        scores, low_res = self.predictor.decode_low_res(points[:, None, :], np.ones((len(points), 1)))
        per_prompt = scores.shape[1]
        scores, low_res = scores.reshape(-1), low_res.reshape(-1, *low_res.shape[2:])
        points = np.repeat(points, per_prompt, axis=0)
        counts.candidates += len(scores)
        keep = np.ones(len(scores), dtype=bool)
        if settings.pred_iou_thresh > 0.0:
            keep = scores > settings.pred_iou_thresh
            counts.remove("pred_iou_thresh", np.count_nonzero(~keep))
        low_res, scores, points = low_res[keep], scores[keep], points[keep]
        offset = settings.stability_score_offset
        if settings.stability_score_thresh > 0.0:  # stability decides now: every candidate in its window
            results = upscale_windowed(upscaler, low_res, MASK_THRESHOLD, offset)
            data = window_set(
                [r.mask for r in results], [r.box for r in results], scores, [r.stability for r in results], points
            )
            stable = data.stability >= settings.stability_score_thresh
            counts.remove("stability_score_thresh", np.count_nonzero(~stable))
            data = data.take(stable)
        else:  # only the box decides before NMS: exact boxes from edge bands, the rest for survivors
            pending = pending_masks(upscaler, low_res, MASK_THRESHOLD, offset)
            boxes = band_boxes(upscaler, low_res, pending, MASK_THRESHOLD)
            data = window_set(pending, boxes, scores, np.full(len(pending), np.nan, np.float32), points)
        x0, y0 = crop_box[0], crop_box[1]
        edge = near_crop_edge(data.boxes + np.array([x0, y0, x0, y0]), crop_box, image_size)
        counts.remove("crop_edge", np.count_nonzero(edge))
        return data.take(~edge)


class _Tracker:
    """Calls ``progress(done, total)`` as prompts are decoded (no-op without a callback)."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def advance(self, prompts: int) -> None:
        self.done += prompts
        if self.progress is not None:
            self.progress(self.done, self.total)


def pending_bytes(data: MaskSet) -> int:
    return sum(mask.nbytes for mask in data.masks if isinstance(mask, PendingMask))
