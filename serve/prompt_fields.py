"""Prompts from JSON values: points, labels, box, mask_input and ids, checked with messages in the protocol's words.

Used by ``POST /v1/images/{id}/predict`` and the stream's ``point`` / ``box`` / ``gaze`` messages.
Numbers must be JSON numbers (not strings, not true/false) and finite (Python's JSON reader accepts
NaN and Infinity; they are refused here); coordinates lie within the image, 0 <= x <= W and
0 <= y <= H in original pixels, as the runtime accepts them. Every failure is an InvalidInputError
with one line that names the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.prompts import check_mask_input

MAX_ID_CHARS = 64


@dataclass(frozen=True)
class Prompt:
    """One prompt in original pixels: ``points`` [[x, y], ...] with ``labels`` [1|0, ...], and/or ``box``."""

    points: list[list[float]] | None = None
    labels: list[int] | None = None
    box: list[float] | None = None

    def check_inside(self, original_size: tuple[int, int]) -> None:
        """Refuse coordinates outside a (H, W) image."""
        if self.points is not None:
            check_inside(self.points, original_size, "points")
        if self.box is not None:
            check_inside([self.box[:2], self.box[2:]], original_size, "box")


def number(value, name: str) -> float:
    """A finite JSON number as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{name} must be a number; got {_json_type(value)}")
    try:
        result = float(value)
    except OverflowError:  # an integer beyond float64
        result = math.inf
    if not math.isfinite(result):
        raise InvalidInputError(f"{name} must be a finite number; got {value!r:.40}")
    return result


def points_field(value, max_points: int) -> list[list[float]]:
    """``[[x, y], ...]``, 1 to ``max_points`` pairs."""
    if not isinstance(value, list) or not value:
        raise InvalidInputError(f"points must be a non-empty list of [x, y] pairs; got {_json_type(value)}")
    if len(value) > max_points:
        raise InvalidInputError(f"points holds {len(value)} points; this server accepts at most {max_points}")
    points = []
    for index, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            raise InvalidInputError(f"points[{index}] must be a pair [x, y]; got {_json_type(pair)}")
        points.append([number(pair[0], f"points[{index}][0]"), number(pair[1], f"points[{index}][1]")])
    return points


def labels_field(value, count: int) -> list[int]:
    """``[1|0, ...]``, one per point (1 foreground, 0 background)."""
    if not isinstance(value, list) or len(value) != count:
        got = f"{len(value)} labels" if isinstance(value, list) else _json_type(value)
        raise InvalidInputError(f"labels must be a list of {count} labels (1 or 0), one per point; got {got}")
    return [label_field(label, f"labels[{index}]") for index, label in enumerate(value)]


def label_field(value, name: str = "label") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in (0, 1):
        raise InvalidInputError(f"{name} must be 1 (foreground) or 0 (background); got {value!r:.40}")
    return int(value)


def box_field(value) -> list[float]:
    """``[x0, y0, x1, y1]`` with x1 >= x0 and y1 >= y0."""
    if not isinstance(value, list) or len(value) != 4:
        raise InvalidInputError(f"box must be [x0, y0, x1, y1]; got {_json_type(value)}")
    box = [number(v, f"box[{index}]") for index, v in enumerate(value)]
    if box[2] < box[0] or box[3] < box[1]:
        raise InvalidInputError(f"box must have x1 >= x0 and y1 >= y0 (x0, y0, x1, y1 order); got {box}")
    return box


def mask_input_field(value) -> np.ndarray:
    """Low-res logits of an earlier mask, [256, 256] or [1, 256, 256] nested lists -> float32 [1, 256, 256]."""
    if not isinstance(value, list):
        raise InvalidInputError(f"mask_input must be nested lists of numbers, [1, 256, 256]; got {_json_type(value)}")
    try:
        array = np.array(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInputError("mask_input must be nested lists of numbers shaped [1, 256, 256]") from None
    return check_mask_input(array, 1)[0]


def prompt_id(value):
    """A client's prompt id, echoed in the answer: a string of at most 64 characters, an integer, or null."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53):
        return value
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS:
        return value
    raise InvalidInputError(
        f"id must be a string of at most {MAX_ID_CHARS} characters or an integer; got {value!r:.40}"
    )


def check_inside(points, original_size: tuple[int, int], name: str) -> None:
    height, width = original_size
    if any(not (0 <= x <= width and 0 <= y <= height) for x, y in points):
        raise InvalidInputError(
            f"{name} lie outside the image: accepted 0 <= x <= {width}, 0 <= y <= {height} (original pixels)"
        )


def check_fields(message: dict, accepted: tuple[str, ...], what: str) -> None:
    """Refuse fields a message does not define (a typo would otherwise be ignored silently)."""
    unknown = sorted(set(message) - set(accepted))
    if unknown:
        raise InvalidInputError(f"{what} has unknown field {unknown[0]!r:.40}; accepted: {', '.join(accepted)}")


def _json_type(value) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)
