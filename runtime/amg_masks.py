"""The automatic mask generator's working set of candidate masks, its filter counts and output records.

Frames: a ``MaskSet`` of one crop holds masks, boxes and points in that crop's frame until
``uncropped`` moves them to the original image frame. Boxes are int64 XYXY with x1 / y1 the last
column / row (inclusive); crop boxes int64 [x0, y0, x1, y1] half-open; points float64 (x, y).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from sam_edge.runtime.amg_grid import xyxy_to_xywh
from sam_edge.runtime.mask_windows import WindowMask
from sam_edge.runtime.rle import coco_rle, counts_area, uncompressed_rle


@dataclass
class MaskSet:
    """N candidate masks and what the official records say about each."""

    masks: list = field(default_factory=list)  # WindowMask each
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    iou_preds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    stability: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float64))
    crop_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))

    def __len__(self) -> int:
        return len(self.masks)

    def take(self, index: np.ndarray) -> "MaskSet":
        """The masks at ``index`` (int positions, in that order, or a bool keep-mask)."""
        index = np.flatnonzero(index) if np.asarray(index).dtype == np.bool_ else np.asarray(index, dtype=np.int64)
        return MaskSet(
            [self.masks[i] for i in index],
            self.boxes[index],
            self.iou_preds[index],
            self.stability[index],
            self.points[index],
            self.crop_boxes[index],
        )

    @staticmethod
    def concatenate(parts: list["MaskSet"]) -> "MaskSet":
        if not parts:
            return MaskSet()
        names = [f.name for f in fields(MaskSet) if f.name != "masks"]
        arrays = {name: np.concatenate([getattr(p, name) for p in parts]) for name in names}
        return MaskSet([m for p in parts for m in p.masks], **arrays)

    def uncropped(self, crop_box, image_size: tuple[int, int]) -> "MaskSet":
        """This crop's masks moved to the original frame (``crop_box`` [x0, y0, x1, y1], ``image_size`` (H, W))."""
        x0, y0 = int(crop_box[0]), int(crop_box[1])
        return MaskSet(
            [m.shifted(y0, x0, image_size) for m in self.masks],
            self.boxes + np.array([x0, y0, x0, y0]),
            self.iou_preds,
            self.stability,
            self.points + np.array([x0, y0], dtype=np.float64),
            np.tile(np.asarray(crop_box, dtype=np.int64), (len(self), 1)),
        )


FILTERS = (
    "pred_iou_thresh",
    "stability_score_thresh",
    "crop_edge",
    "box_nms_thresh",
    "crop_nms_thresh",
    "min_mask_region_area",
)
FILTER_TEXT = {
    "pred_iou_thresh": "pred_iou_thresh",
    "stability_score_thresh": "stability_score_thresh",
    "crop_edge": "touching a crop edge",
    "box_nms_thresh": "box_nms_thresh (duplicates within a crop)",
    "crop_nms_thresh": "crop_nms_thresh (duplicates across crops)",
    "min_mask_region_area": "min_mask_region_area (duplicates after clean-up)",
}


@dataclass
class FilterCounts:
    """How many candidate masks the decoder gave and how many each filter removed (in the official order)."""

    candidates: int = 0
    removed: dict = field(default_factory=lambda: dict.fromkeys(FILTERS, 0))

    def remove(self, name: str, count: int) -> None:
        self.removed[name] += int(count)

    @property
    def kept(self) -> int:
        return self.candidates - sum(self.removed.values())

    def summary(self) -> str:
        """'N candidate masks; removed by F1 A, F2 B, ...; kept K' (filters that removed none left out)."""
        removed = ", ".join(f"{FILTER_TEXT[name]} {count}" for name, count in self.removed.items() if count)
        return f"{self.candidates} candidate masks; removed by {removed or 'no filter'}; kept {self.kept}"


def mask_records(data: MaskSet, output_mode: str) -> list[dict]:
    """segment_anything's records, in its key order: segmentation (per ``output_mode``), area, bbox (XYWH),
    predicted_iou, point_coords [[x, y]], stability_score, crop_box (XYWH); all plain Python numbers."""
    records = []
    for i, mask in enumerate(data.masks):
        if output_mode == "binary_mask":
            segmentation, area = mask.full_frame(), mask.area
        else:
            counts = mask.counts()
            area = counts_area(counts)
            encode = coco_rle if output_mode == "coco_rle" else uncompressed_rle
            segmentation = encode(counts, mask.image_size)
        records.append(
            {
                "segmentation": segmentation,
                "area": int(area),
                "bbox": xyxy_to_xywh(data.boxes[i]),
                "predicted_iou": float(data.iou_preds[i]),
                "point_coords": [data.points[i].tolist()],
                "stability_score": float(data.stability[i]),
                "crop_box": xyxy_to_xywh(data.crop_boxes[i]),
            }
        )
    return records


def window_set(masks: list[WindowMask], boxes, iou_preds, stability, points) -> MaskSet:
    """A MaskSet of one crop (crop boxes are filled in by ``uncropped``)."""
    return MaskSet(
        list(masks),
        np.asarray(boxes, np.int64).reshape(-1, 4),
        np.asarray(iou_preds, np.float32),
        np.asarray(stability, np.float32),
        np.asarray(points, np.float64).reshape(-1, 2),
        np.zeros((len(masks), 4), np.int64),
    )
