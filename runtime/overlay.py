"""Draw masks and prompts over an image, for people to look at (CLI --overlay, eval grids)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

MASK_COLOR = (30, 144, 255)
FOREGROUND_COLOR = (0, 200, 0)
BACKGROUND_COLOR = (230, 30, 30)
BOX_COLOR = (255, 215, 0)


def render_overlay(
    rgb: np.ndarray, mask: np.ndarray | None, point_coords=None, point_labels=None, box=None, alpha: float = 0.5
) -> Image.Image:
    """rgb HxWx3 uint8, mask HxW bool (original frame); points (x, y) with labels 1/0; box x0, y0, x1, y1."""
    canvas = rgb.astype(np.float32)
    if mask is not None:
        canvas[mask] = (1 - alpha) * canvas[mask] + alpha * np.array(MASK_COLOR, np.float32)
    image = Image.fromarray(canvas.round().astype(np.uint8))
    draw = ImageDraw.Draw(image)
    radius = max(3, round(max(rgb.shape[:2]) / 160))
    if box is not None:
        draw.rectangle([float(v) for v in np.asarray(box).reshape(4)], outline=BOX_COLOR, width=max(2, radius // 2))
    if point_coords is not None:
        for (x, y), label in zip(np.asarray(point_coords).reshape(-1, 2), np.asarray(point_labels).reshape(-1)):
            color = FOREGROUND_COLOR if label == 1 else BACKGROUND_COLOR
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color, outline=(255, 255, 255))
    return image


def render_masks_overlay(rgb: np.ndarray, masks, alpha: float = 0.5, seed: int = 0) -> Image.Image:
    """rgb HxWx3 uint8 with every mask (bool HxW, original frame) tinted in its own seeded colour.

    ``masks`` is any iterable, drawn in its order (e.g. decoded one at a time, largest first, so that
    smaller masks stay visible on top, as SAM's notebooks show automatic masks).
    """
    rng = np.random.default_rng(seed)
    canvas = rgb.astype(np.float32)
    for mask in masks:
        color = rng.integers(40, 256, size=3).astype(np.float32)
        canvas[mask] = (1 - alpha) * canvas[mask] + alpha * color
    return Image.fromarray(canvas.round().astype(np.uint8))
