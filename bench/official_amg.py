"""The references of the ``everything`` scenario: segment_anything's generator logic, done its way.

- ``OfficialOrderGenerator``: the official ``SamAutomaticMaskGenerator`` algorithm step for step in
  numpy, over any low-res decoder (sam-edge's graphs for ``official_logic:everything``): every mask of
  every batch upscaled to the full crop frame, stability on those logits, boxes from the full-frame
  masks, every filtered mask padded to the image and run-length encoded before NMS, and the records
  decoded back to full-frame arrays for ``binary_mask``. Same records as sam-edge's generator; it
  only does the work where the official code does it. Chunks of CHUNK masks bound the memory, not
  the work.
- ``official_generator_on_torch``: segment_anything's own generator code (when the package is
  installed) driving PyTorch eager over our modeling (``TorchSamPredictor``, same weights), for
  models the package cannot build (vit_t, nano); else the numpy order above over the same torch model.
"""

from __future__ import annotations

import numpy as np

from sam_edge.runtime.amg_grid import crop_boxes, near_crop_edge
from sam_edge.runtime.amg_masks import FilterCounts, MaskSet, mask_records
from sam_edge.runtime.amg_settings import AmgSettings
from sam_edge.runtime.box_nms import box_area, nms
from sam_edge.runtime.mask_windows import WindowMask
from sam_edge.runtime.prompts import build_decoder_feeds
from sam_edge.runtime.rle import mask_counts

CHUNK = 12  # masks upscaled at once (memory only: every mask is upscaled to full size regardless)


class OfficialOrderGenerator:
    """segment_anything's generate() in its own order. ``predictor`` has set_image, decode_low_res(points
    [B, 1, 2], labels [B, 1]) -> (scores [B, 3], low-res [B, 3, 256, 256]) and full_logits(low_res) -> [M, h, w]."""

    def __init__(self, predictor, **kwargs) -> None:
        self.predictor = predictor
        self.settings = AmgSettings(**kwargs)
        self.last_counts = FilterCounts()

    def generate(self, rgb: np.ndarray) -> list[dict]:
        boxes, layers = crop_boxes(rgb.shape[:2], self.settings.crop_n_layers, self.settings.crop_overlap_ratio)
        data = MaskSet.concatenate([self._crop(rgb, box, layer) for box, layer in zip(boxes, layers)])
        if len(boxes) > 1 and len(data):
            data = data.take(
                nms(
                    data.boxes,
                    np.float32(1) / box_area(data.crop_boxes).astype(np.float32),
                    self.settings.crop_nms_thresh,
                )
            )
        if self.settings.min_mask_region_area > 0 and len(data):
            from sam_edge.runtime.amg_cleanup import clean_small_regions

            full = MaskSet([WindowMask(m.full_frame(), 0, 0, m.image_size) for m in data.masks], *_arrays(data))
            data = clean_small_regions(
                full,
                self.settings.min_mask_region_area,
                max(self.settings.box_nms_thresh, self.settings.crop_nms_thresh),
            )
        return mask_records(data, self.settings.output_mode)

    def _crop(self, rgb: np.ndarray, crop_box, layer: int) -> MaskSet:
        x0, y0, x1, y1 = crop_box
        self.predictor.set_image(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
        points = self.settings.grids[layer] * np.array([x1 - x0, y1 - y0])
        step = self.settings.points_per_batch
        parts = [self._batch(points[i : i + step], crop_box, rgb.shape[:2]) for i in range(0, len(points), step)]
        data = MaskSet.concatenate(parts)
        data = data.take(nms(data.boxes, data.iou_preds, self.settings.box_nms_thresh))
        boxes = data.boxes + np.array([x0, y0, x0, y0])
        return MaskSet(
            data.masks,
            boxes,
            data.iou_preds,
            data.stability,
            data.points + np.array([x0, y0]),
            np.tile(np.asarray(crop_box, np.int64), (len(data), 1)),
        )

    def _batch(self, points: np.ndarray, crop_box, image_size) -> MaskSet:
        scores, low_res = self.predictor.decode_low_res(points[:, None, :], np.ones((len(points), 1)))
        scores, low_res = scores.reshape(-1), low_res.reshape(-1, *low_res.shape[2:])
        points = np.repeat(points, len(scores) // len(points), axis=0)
        parts = [
            self._chunk(low_res[i : i + CHUNK], scores[i : i + CHUNK], points[i : i + CHUNK], crop_box, image_size)
            for i in range(0, len(scores), CHUNK)
        ]
        return MaskSet.concatenate(parts)

    def _chunk(self, low_res, scores, points, crop_box, image_size) -> MaskSet:
        settings = self.settings
        logits = self.predictor.full_logits(low_res)  # [M, h, w]: the official upscales every mask
        keep = scores > settings.pred_iou_thresh if settings.pred_iou_thresh > 0 else np.ones(len(scores), bool)
        logits, scores, points = logits[keep], scores[keep], points[keep]
        offset = settings.stability_score_offset
        with np.errstate(invalid="ignore", divide="ignore"):
            stability = np.count_nonzero(logits > offset, axis=(1, 2)).astype(np.float32) / np.count_nonzero(
                logits > -offset, axis=(1, 2)
            ).astype(np.float32)
        if settings.stability_score_thresh > 0:
            stable = stability >= settings.stability_score_thresh
            logits, scores, points, stability = logits[stable], scores[stable], points[stable], stability[stable]
        masks = logits > 0.0
        boxes = np.array([_full_box(mask) for mask in masks], np.int64).reshape(-1, 4)
        x0, y0 = crop_box[0], crop_box[1]
        inside = ~near_crop_edge(boxes + np.array([x0, y0, x0, y0]), crop_box, image_size)
        kept = []
        for mask in masks[inside]:
            full = WindowMask(mask, y0, x0, image_size).full_frame()  # uncrop_masks: pad to the image
            mask_counts(full)  # mask_to_rle_pytorch of the full frame (kept compact below, as the RLE is)
            kept.append(WindowMask.from_full_frame(full))
        return MaskSet(
            kept, boxes[inside], scores[inside], stability[inside], points[inside], np.zeros((len(kept), 4), np.int64)
        )


def _full_box(mask: np.ndarray) -> list[int]:
    """batched_mask_to_box on one full-frame mask: XYXY inclusive, [0, 0, 0, 0] when empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return [0, 0, 0, 0] if rows.size == 0 else [int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])]


def _arrays(data: MaskSet) -> tuple:
    return data.boxes, data.iou_preds, data.stability, data.points, data.crop_boxes


class GraphsLowRes:
    """sam-edge's predictor as OfficialOrderGenerator's decoder: its graphs, its full-frame upscaler."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor

    def set_image(self, rgb: np.ndarray) -> None:
        self.predictor.set_image(rgb)

    def decode_low_res(self, points, labels):
        return self.predictor.decode_low_res(points, labels)

    def full_logits(self, low_res: np.ndarray) -> np.ndarray:
        return self.predictor.mask_upscaler().logits(low_res)


class TorchLowRes:
    """PyTorch eager over our modeling (TorchSamPredictor) as OfficialOrderGenerator's decoder:
    torch's decoder and the official torch upscaling (interpolate to 1024, crop, interpolate)."""

    def __init__(self, torch_predictor) -> None:
        self.torch_predictor = torch_predictor

    def set_image(self, rgb: np.ndarray) -> None:
        self.torch_predictor.set_image(rgb)

    def decode_low_res(self, points, labels):
        import torch

        predictor = self.torch_predictor
        feeds = build_decoder_feeds(predictor.original_size, predictor.input_size, points, labels, batched=True)
        with torch.inference_mode():
            low_res, scores = predictor.model.decode(
                predictor.embedding,
                *(
                    torch.from_numpy(a)
                    for a in (feeds.point_coords, feeds.point_labels, feeds.mask_input, feeds.has_mask_input)
                ),
            )
        return scores[:, 1:].numpy(), np.ascontiguousarray(low_res[:, 1:].numpy())

    def full_logits(self, low_res: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.torch_predictor.postprocess(torch.from_numpy(np.ascontiguousarray(low_res))[None])[0].numpy()


class _ModelView:
    """What segment_anything's generator and predictor read from a Sam model."""

    mask_threshold = 0.0
    image_format = "RGB"

    class image_encoder:  # noqa: N801 (the official attribute name)
        img_size = 1024


class OfficialPredictorOnTorch:
    """segment_anything.SamPredictor's interface (set_image, predict_torch, reset_image, transform,
    device, model) over TorchSamPredictor, so the official generator code drives our PyTorch modeling."""

    def __init__(self, torch_predictor) -> None:
        import torch
        from segment_anything.utils.transforms import ResizeLongestSide

        self.torch, self.inner = torch, torch_predictor
        self.model, self.device = _ModelView(), torch.device("cpu")
        self.transform = ResizeLongestSide(_ModelView.image_encoder.img_size)

    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        self.inner.set_image(np.ascontiguousarray(image))

    def reset_image(self) -> None:
        """The official predictor forgets the features; the next set_image replaces them here."""

    def predict_torch(
        self, point_coords, point_labels, boxes=None, mask_input=None, multimask_output=True, return_logits=False
    ):
        torch, batch = self.torch, point_coords.shape[0]
        coords = torch.cat([point_coords.float(), torch.zeros(batch, 1, 2)], dim=1)  # the official padding point
        labels = torch.cat([point_labels.float(), -torch.ones(batch, 1)], dim=1)
        low_res, scores = self.inner.model.decode(
            self.inner.embedding, coords, labels, torch.zeros(batch, 1, 256, 256), torch.zeros(batch)
        )
        tokens = slice(1, None) if multimask_output else slice(0, 1)
        low_res, scores = low_res[:, tokens], scores[:, tokens]
        masks = self.inner.postprocess(low_res)
        return (masks if return_logits else masks > 0.0), scores, low_res


def official_generator_on_torch(torch_predictor, **kwargs):
    """generate(rgb) of segment_anything's SamAutomaticMaskGenerator over PyTorch eager (same weights);
    without the package, OfficialOrderGenerator over the same torch model."""
    try:
        from segment_anything import SamAutomaticMaskGenerator
    except ImportError:
        return OfficialOrderGenerator(TorchLowRes(torch_predictor), **kwargs).generate
    generator = SamAutomaticMaskGenerator(_ModelView(), **kwargs)
    generator.predictor = OfficialPredictorOnTorch(torch_predictor)
    return generator.generate
