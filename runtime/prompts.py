"""Prompt validation and the official SAM decoder feeds.

User-facing prompts are in the ORIGINAL image frame: points (x, y) in pixels with labels 1
(foreground) / 0 (background), boxes (x0, y0, x1, y1). Decoder feeds are in the INPUT frame (the
resized image, longest side = image_size) with the official ONNX labels: box corners become two
points labelled 2 and 3 after the clicks, and a prompt without a box gets one padding point (0, 0)
labelled -1, exactly as SamPredictor's prompt encoder does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.transforms import boxes_to_input_frame, to_input_frame

LOW_RES_SIDE = 256
# mask_input logits beyond this are refused: predict returns logits within about +-100, and values near
# float32's limit (3.4e38) overflow the decoder's sums into NaN scores.
MAX_MASK_LOGIT = 1e6


@dataclass(frozen=True)
class DecoderFeeds:
    """Feeds of the official decoder interface for B prompts (all float32)."""

    point_coords: np.ndarray  # [B, N, 2] input frame
    point_labels: np.ndarray  # [B, N]
    mask_input: np.ndarray  # [B, 1, 256, 256] low-res logits (zeros when unused)
    has_mask_input: np.ndarray  # [B]

    @property
    def prompts(self) -> int:
        return int(self.point_coords.shape[0])

    def rows(self, start: int, stop: int) -> "DecoderFeeds":
        """The feeds of prompts [start, stop)."""
        return DecoderFeeds(
            self.point_coords[start:stop],
            self.point_labels[start:stop],
            self.mask_input[start:stop],
            self.has_mask_input[start:stop],
        )

    def as_dict(self, image_embeddings: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "image_embeddings": image_embeddings,
            "point_coords": self.point_coords,
            "point_labels": self.point_labels,
            "mask_input": self.mask_input,
            "has_mask_input": self.has_mask_input,
        }


def _as_float_array(value, name: str, shape_text: str) -> np.ndarray:
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "buifO":  # complex, strings, bytes, records: never coordinates
            raise TypeError(array.dtype)
        array = array.astype(np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a Python int beyond float64 (10**400)
        got = f"a {value.dtype} array" if isinstance(value, np.ndarray) else type(value).__name__
        raise InvalidInputError(f"{name} must be real numbers, shaped {shape_text}; got {got}") from None
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} contains NaN or inf; expected finite numbers")
    return array


def check_points(coords, labels, original_size: tuple[int, int], batched: bool) -> tuple[np.ndarray, np.ndarray]:
    """Validate clicks; returns (coords [B, N, 2] float64, labels [B, N] float64) in the original frame.

    Unbatched labels may be [N], [N, 1] or [1, N] for N points (segment_anything takes [N]).
    """
    shape_text = "[B, N, 2]" if batched else "[N, 2]"
    coords = _as_float_array(coords, "point_coords", shape_text)
    if labels is None:
        raise InvalidInputError("point_labels must be given with point_coords (1 = foreground, 0 = background)")
    labels = _as_float_array(labels, "point_labels", shape_text[:-4] + "]")
    if not batched:
        coords, labels = coords[None], _flat_labels(labels, coords)[None]
    if coords.ndim != 3 or coords.shape[-1] != 2 or 0 in coords.shape:
        counts = "B >= 1 and N >= 1" if batched else "N >= 1"
        raise InvalidInputError(
            f"point_coords must be shaped {shape_text} with {counts}; got shape {coords.shape[int(not batched) :]}"
        )
    if labels.shape != coords.shape[:2]:
        points = coords.shape[1]
        expected = str(coords.shape[:2]) if batched else f"({points},), ({points}, 1) or (1, {points})"
        raise InvalidInputError(
            f"point_labels must be shaped {expected} to match point_coords; got {labels.shape[int(not batched) :]}"
        )
    if not np.isin(labels, (0, 1)).all():
        raise InvalidInputError(
            f"point_labels must be 1 (foreground) or 0 (background); got {np.unique(labels).tolist()}"
        )
    _check_inside(coords, original_size, "point_coords")
    return coords, labels


def _flat_labels(labels: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Labels of N points given as a column [N, 1] or a row [1, N] (e.g. [[1]]) -> [N]; others unchanged."""
    if labels.ndim == 2 and 1 in labels.shape and coords.ndim == 2 and labels.size == coords.shape[0]:
        return labels.reshape(-1)
    return labels


def check_boxes(boxes, original_size: tuple[int, int], batched: bool) -> np.ndarray:
    """Validate boxes (x0, y0, x1, y1); returns [B, 4] float64 in the original frame."""
    boxes = _as_float_array(boxes, "box", "[B, 4]" if batched else "[4]")
    if not batched:
        boxes = boxes.reshape(1, -1) if boxes.ndim == 1 else boxes
    if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.shape[0] == 0:
        raise InvalidInputError(
            f"box must hold x0, y0, x1, y1 ({'[B, 4] with B >= 1' if batched else '[4]'}); got shape {boxes.shape}"
        )
    if not batched and boxes.shape[0] != 1:
        raise InvalidInputError(
            f"predict takes one box [4]; got {boxes.shape[0]} boxes - pass boxes [B, 4] to predict_batch"
        )
    if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise InvalidInputError(f"box must have x1 >= x0 and y1 >= y0 (x0, y0, x1, y1 order); got {boxes.tolist()}")
    _check_inside(boxes.reshape(-1, 2, 2), original_size, "box")
    return boxes


def _check_inside(coords: np.ndarray, original_size: tuple[int, int], name: str) -> None:
    height, width = original_size
    x, y = coords[..., 0], coords[..., 1]
    if (x < 0).any() or (y < 0).any() or (x > width).any() or (y > height).any():
        raise InvalidInputError(
            f"{name} lie outside the image: accepted 0 <= x <= {width}, 0 <= y <= {height} (original pixels)"
        )


def check_mask_input(mask_input, batch: int) -> np.ndarray:
    """Previous low-res logits [256, 256], [1, 256, 256] or [B, 1, 256, 256] -> [B, 1, 256, 256] float32."""
    array = _as_float_array(mask_input, "mask_input", "[1, 256, 256]")
    largest = float(np.abs(array).max()) if array.size else 0.0
    if largest > MAX_MASK_LOGIT:
        raise InvalidInputError(
            f"mask_input holds logits up to {largest:.3g} in magnitude; expected low-res logits "
            f"within +-{MAX_MASK_LOGIT:g} (predict returns them within about +-100)"
        )
    array = array.astype(np.float32)
    if array.shape[-2:] != (LOW_RES_SIDE, LOW_RES_SIDE) or array.ndim > 4:
        raise InvalidInputError(
            f"mask_input must be low-res logits shaped [1, 256, 256] (as returned by predict); got {array.shape}"
        )
    array = array.reshape(-1, 1, LOW_RES_SIDE, LOW_RES_SIDE)
    if array.shape[0] not in (1, batch):
        accepted = "1" if batch == 1 else f"1 (shared) or {batch} (one per prompt)"
        raise InvalidInputError(f"mask_input holds {array.shape[0]} masks for {batch} prompt(s); give {accepted}")
    return np.broadcast_to(array, (batch, 1, LOW_RES_SIDE, LOW_RES_SIDE)).copy()


def build_decoder_feeds(
    original_size: tuple[int, int],
    input_size: tuple[int, int],
    point_coords=None,
    point_labels=None,
    boxes=None,
    mask_input=None,
    batched: bool = False,
) -> DecoderFeeds:
    """Validate prompts (original frame) and build the decoder feeds (input frame) for B prompts."""
    require_prompt(point_coords, point_labels, boxes)
    parts_coords, parts_labels = [], []
    if point_coords is not None:
        coords, labels = check_points(point_coords, point_labels, original_size, batched)
        parts_coords.append(to_input_frame(coords, original_size, input_size))
        parts_labels.append(labels)
    if boxes is not None:
        box_array = check_boxes(boxes, original_size, batched)
        parts_coords.append(boxes_to_input_frame(box_array, original_size, input_size).reshape(-1, 2, 2))
        parts_labels.append(np.tile([2.0, 3.0], (box_array.shape[0], 1)))
    return assemble_feeds(parts_coords, parts_labels, mask_input, pad=boxes is None)


def require_prompt(point_coords, point_labels, boxes) -> None:
    """Refuse a prompt with neither points nor a box (a mask input alone, or labels without points)."""
    if point_coords is None and boxes is None:
        if point_labels is not None:
            raise InvalidInputError("point_labels given without point_coords")
        raise InvalidInputError(
            "empty prompt: give point_coords with point_labels and/or a box (mask_input alone is not accepted)"
        )


def assemble_feeds(parts_coords: list, parts_labels: list, mask_input, pad: bool) -> DecoderFeeds:
    """DecoderFeeds of B prompts from their token parts in order: coordinates [1 or B, n, 2] and labels
    [1 or B, n] each (a part of 1 is shared by every prompt); ``pad`` appends a (0, 0) / -1 padding
    point to every prompt (SAM: only when no box is given; SAM 2: always)."""
    batch = _common_batch(parts_coords)
    if pad:
        parts_coords = [*parts_coords, np.zeros((batch, 1, 2))]
        parts_labels = [*parts_labels, -np.ones((batch, 1))]
    coords = np.concatenate([np.broadcast_to(c, (batch,) + c.shape[1:]) for c in parts_coords], axis=1)
    labels = np.concatenate([np.broadcast_to(part, (batch,) + part.shape[1:]) for part in parts_labels], axis=1)
    if mask_input is None:
        masks = np.zeros((batch, 1, LOW_RES_SIDE, LOW_RES_SIDE), np.float32)
        has_mask = np.zeros(batch, np.float32)
    else:
        masks = check_mask_input(mask_input, batch)
        has_mask = np.ones(batch, np.float32)
    return DecoderFeeds(coords.astype(np.float32), labels.astype(np.float32), masks, has_mask)


def _common_batch(parts: list[np.ndarray]) -> int:
    sizes = {part.shape[0] for part in parts}
    if len(sizes - {1}) > 1:
        raise InvalidInputError(
            f"points and boxes hold different numbers of prompts: {sorted(sizes)}; give equal counts (or 1)"
        )
    return max(sizes)
