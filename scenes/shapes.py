"""Shape outlines and their rasterisation into binary masks (Pillow ImageDraw on mode 'L', C speed).

Frames: points are (x, y) float in the image frame (pixels, origin top-left). A ``ShapeMask`` holds the
shape cropped to its bounding box, clipped to the image: ``mask`` bool [h, w] covers image rows
``y0 : y0 + h`` and columns ``x0 : x0 + w``.

A shape is described as a list of ``Stroke`` (filled polygons and thick polylines, each painted with 255
or 0), so holes are simply a later stroke painted with 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class Stroke:
    """points float [N, 2] (x, y) image frame; width 0 = filled polygon, > 0 = polyline of that width (px).

    fill 255 paints the shape, 0 cuts a hole into what earlier strokes of the same shape painted.
    """

    points: np.ndarray
    fill: int = 255
    width: int = 0


@dataclass(frozen=True)
class ShapeMask:
    """mask bool [h, w] of the shape inside the image; its top-left pixel is image pixel (x0, y0)."""

    mask: np.ndarray
    x0: int
    y0: int

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    def window(self) -> tuple[slice, slice]:
        """(rows, cols) slices of the image that this mask covers."""
        h, w = self.mask.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)


# --- outlines ----------------------------------------------------------------------------------------


def _ring(angles: np.ndarray, radii: np.ndarray, cx: float, cy: float) -> np.ndarray:
    """float [N, 2]: points at polar (angle, radius) around (cx, cy)."""
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def _rotate_stretch(points: np.ndarray, cx: float, cy: float, stretch: float, angle: float) -> np.ndarray:
    """Scale x by stretch (y by 1/stretch, keeping area) about the centre, then rotate by angle."""
    p = points - (cx, cy)
    p = p * (stretch, 1.0 / stretch)
    c, s = np.cos(angle), np.sin(angle)
    return p @ np.array([[c, s], [-s, c]]) + (cx, cy)


def convex_polygon(rng: np.random.Generator, cx: float, cy: float, r: float) -> np.ndarray:
    """3-9 vertices on a stretched, rotated circle: always convex (points on an ellipse, in angle order)."""
    n = int(rng.integers(3, 10))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    pts = _ring(angles, np.full(n, r), cx, cy)
    return _rotate_stretch(pts, cx, cy, rng.uniform(0.6, 1.6), rng.uniform(0, np.pi))


def star_polygon(rng: np.random.Generator, cx: float, cy: float, r: float) -> np.ndarray:
    """Star-like (non-convex) polygon: 4-10 spikes alternating outer/inner radius, or a jagged ring."""
    if rng.random() < 0.6:
        n = int(rng.integers(4, 11))
        angles = np.arange(2 * n) * np.pi / n + rng.uniform(0, np.pi)
        radii = np.where(np.arange(2 * n) % 2 == 0, r, r * rng.uniform(0.3, 0.7))
        radii = radii * rng.uniform(0.85, 1.0, 2 * n)
    else:  # irregular: random radius per vertex, angle-sorted so the outline never self-intersects
        n = int(rng.integers(6, 16))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = r * rng.uniform(0.35, 1.0, n)
    return _ring(angles, radii, cx, cy)


def ellipse_outline(rng: np.random.Generator, cx: float, cy: float, r: float) -> np.ndarray:
    """Rotated ellipse of area ~ pi r^2 as a 72-gon (ImageDraw.ellipse cannot rotate)."""
    angles = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    pts = _ring(angles, np.full(72, r), cx, cy)
    return _rotate_stretch(pts, cx, cy, rng.uniform(0.45, 2.2), rng.uniform(0, np.pi))


def blob_outline(rng: np.random.Generator, cx: float, cy: float, r: float) -> np.ndarray:
    """Smooth random blob: circle with radius r * (1 + sum_k a_k cos(k t + phi_k)), k = 1..6.

    Amplitudes fall as 1/k so the outline is smooth; the radius is floored at 0.25 r to stay star-shaped.
    """
    angles = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    k = np.arange(1, 7)[:, None]
    amp = rng.uniform(0.0, 0.35, (6, 1)) / k
    phase = rng.uniform(0, 2 * np.pi, (6, 1))
    radii = r * np.maximum(1.0 + (amp * np.cos(k * angles + phase)).sum(axis=0), 0.25)
    pts = _ring(angles, radii, cx, cy)
    return _rotate_stretch(pts, cx, cy, rng.uniform(0.7, 1.4), rng.uniform(0, np.pi))


def thin_curve(rng: np.random.Generator, cx: float, cy: float, r: float) -> np.ndarray:
    """Smooth open curve 3r long around (cx, cy): a walk whose heading turns smoothly (or a straight bar).

    Longer than the 2r of solid shapes because a thin stroke needs length to reach the visible-area minimum.
    """
    n = 24
    heading = rng.uniform(0, 2 * np.pi)
    turn = 0.0 if rng.random() < 0.25 else rng.uniform(-0.25, 0.25)
    wobble = rng.uniform(0.0, 0.2)
    turns = turn + wobble * np.sin(np.linspace(0, rng.uniform(2, 8), n) + rng.uniform(0, 2 * np.pi))
    headings = heading + np.cumsum(turns)
    step = 3 * r / n
    pts = np.cumsum(np.stack([np.cos(headings), np.sin(headings)], axis=1) * step, axis=0)
    return pts - pts.mean(axis=0) + (cx, cy)


_SOLID = (convex_polygon, ellipse_outline, blob_outline)


def shape_strokes(
    rng: np.random.Generator, kind: str, cx: float, cy: float, r: float, thin_width: tuple[float, float]
) -> list[Stroke]:
    """The strokes of one shape of `kind` centred near (cx, cy) with radius ~ r (px).

    thin_width: (min, max) stroke width in px for kind "thin".
    """
    if kind == "polygon":
        return [Stroke(convex_polygon(rng, cx, cy, r))]
    if kind == "star":
        return [Stroke(star_polygon(rng, cx, cy, r))]
    if kind == "ellipse":
        return [Stroke(ellipse_outline(rng, cx, cy, r))]
    if kind == "blob":
        return [Stroke(blob_outline(rng, cx, cy, r))]
    if kind == "thin":
        width = max(2, round(rng.uniform(*thin_width)))
        return [Stroke(thin_curve(rng, cx, cy, r), width=width)]
    if kind == "holed":
        return _holed_strokes(rng, cx, cy, r)
    raise ValueError(f"unknown shape kind {kind!r}")


def _holed_strokes(rng: np.random.Generator, cx: float, cy: float, r: float) -> list[Stroke]:
    """A solid outer shape minus an inner shape (30-60% of its size, nudged off centre): rings, frames."""
    outer = _SOLID[int(rng.integers(len(_SOLID)))]
    inner = _SOLID[int(rng.integers(len(_SOLID)))]
    scale = rng.uniform(0.3, 0.6)
    shift = rng.uniform(-0.15, 0.15, 2) * r
    return [
        Stroke(outer(rng, cx, cy, r)),
        Stroke(inner(rng, cx + shift[0], cy + shift[1], r * scale), fill=0),
    ]


# --- rasterisation -----------------------------------------------------------------------------------


def rasterize(strokes: list[Stroke], width: int, height: int) -> ShapeMask | None:
    """Paint strokes in order into a bbox-sized 'L' canvas; None if nothing lands inside the image.

    width, height: image size in px. Coordinates are shifted into the clipped bbox so the canvas never
    exceeds the image (Pillow clips what falls outside the canvas).
    """
    pad = max(s.width for s in strokes) / 2 + 1
    pts = np.concatenate([s.points for s in strokes])
    x0 = max(int(np.floor(pts[:, 0].min() - pad)), 0)
    y0 = max(int(np.floor(pts[:, 1].min() - pad)), 0)
    x1 = min(int(np.ceil(pts[:, 0].max() + pad)) + 1, width)
    y1 = min(int(np.ceil(pts[:, 1].max() + pad)) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    canvas = Image.new("L", (x1 - x0, y1 - y0), 0)
    draw_strokes(ImageDraw.Draw(canvas), strokes, 255, (x0, y0))
    mask = np.asarray(canvas) > 127
    if not mask.any():
        return None
    return ShapeMask(mask, x0, y0)


def draw_strokes(draw: ImageDraw.ImageDraw, strokes: list[Stroke], value: int, origin=(0, 0)) -> None:
    """Paint strokes in order with `value` (holes with 0); `origin` (x, y) is the canvas's image position."""
    for stroke in strokes:
        xy = (stroke.points - origin).ravel().tolist()
        fill = value if stroke.fill else 0
        if stroke.width > 0:
            draw.line(xy, fill=fill, width=stroke.width, joint="curve")
        else:
            draw.polygon(xy, fill=fill)
