"""Prompts sampled from ground truth as in SAM's training: fg/bg points, jittered boxes, and
correction clicks from the error region of the previous prediction.

All coordinates are (x, y) pixels in the input frame; labels follow the decoder interface
(1 fg, 0 bg, -1 padding, 2/3 box corners).
"""

from __future__ import annotations

import numpy as np

BOX_NOISE_FRACTION = 0.1  # SAM: std 10% of the box side, at most 20 px of its 1024 input frame
BOX_NOISE_MAX_PX = 20.0
BOX_NOISE_FRAME = 1024  # the frame BOX_NOISE_MAX_PX is meant in: scaled to the training resolution


def random_pixel(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """(x, y) pixel centre of a uniformly chosen True pixel of an HxW mask, or None if empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    index = rng.integers(len(xs))
    return np.array([xs[index], ys[index]], np.float32)


def jittered_box(mask: np.ndarray, rng: np.random.Generator, image_size: int = BOX_NOISE_FRAME) -> np.ndarray:
    """The mask's tight box (x0, y0, x1, y1) with per-coordinate noise, clipped to the frame.

    ``image_size`` is the training input's side: the 20 px cap is SAM's at 1024 and scales with it
    (unscaled, a 512 run saw boxes twice as loose, relative to the image, as SAM trains on and as
    tight evaluation boxes are).
    """
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)
    sides = np.array([box[2] - box[0], box[3] - box[1]] * 2, np.float32)
    cap = BOX_NOISE_MAX_PX * image_size / BOX_NOISE_FRAME
    noise = rng.normal(0, 1, 4) * np.minimum(BOX_NOISE_FRACTION * sides, cap)
    box = box + noise.astype(np.float32)
    height, width = mask.shape
    box[[0, 2]] = np.clip(box[[0, 2]], 0, width - 1)
    box[[1, 3]] = np.clip(box[[1, 3]], 0, height - 1)
    return np.array([min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])], np.float32)


def first_prompts(
    masks: np.ndarray, use_box: np.ndarray, rng: np.random.Generator, image_size: int = BOX_NOISE_FRAME
) -> tuple[np.ndarray, np.ndarray]:
    """One prompt per instance: a fg point (plus padding) or a box (two corners).

    masks [K, h, w] bool (input frame of an ``image_size`` input); use_box [K] bool. Returns coords
    [K, 2, 2], labels [K, 2].
    """
    coords = np.zeros((len(masks), 2, 2), np.float32)
    labels = np.zeros((len(masks), 2), np.float32)
    for index, (mask, box) in enumerate(zip(masks, use_box)):
        if box:
            coords[index] = jittered_box(mask, rng, image_size).reshape(2, 2)
            labels[index] = (2, 3)
        else:
            coords[index, 0] = random_pixel(mask, rng)
            labels[index] = (1, -1)
    return coords, labels


def correction_clicks(
    predicted: np.ndarray, masks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One click per instance from the error region: fg where missed, bg where spilled.

    predicted, masks [K, h, w] bool (input frame). Returns coords [K, 1, 2] and labels [K, 1]; an
    instance with no error gets a fg click inside its mask.
    """
    coords = np.zeros((len(masks), 1, 2), np.float32)
    labels = np.zeros((len(masks), 1), np.float32)
    for index, (prediction, mask) in enumerate(zip(predicted, masks)):
        missed, spilled = mask & ~prediction, prediction & ~mask
        # Click in the larger error, as an annotator would; fall back to a fg click when perfect.
        if missed.sum() >= spilled.sum():
            point, label = random_pixel(missed, rng), 1.0
        else:
            point, label = random_pixel(spilled, rng), 0.0
        if point is None:
            point, label = random_pixel(mask, rng), 1.0
        coords[index, 0], labels[index, 0] = point, label
    return coords, labels
