"""The prompts of one image for ``--task prompts``: a manifest row's (or ``--prompts`` file's) fields, checked.

Fields (any of them; JSON values, or JSON text in a CSV cell / parquet string column), coordinates in
the original image's pixels (x right, y down):

- ``points``: ``[[x, y], ...]`` or ``[[x, y, label], ...]`` (label 1 foreground, 0 background): each
  point is a prompt of its own (one object per point);
- ``boxes``: ``[[x0, y0, x1, y1], ...]``: each box is a prompt of its own;
- ``prompts``: ``[{"points": [[x, y, label], ...], "box": [x0, y0, x1, y1]}, ...]``: each entry is one
  prompt combining several points and/or a box.

``parse_prompts`` returns them in that order as :class:`Prompt` values; anything malformed is one
InvalidInputError naming the field and entry, which fails that image only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from sam_edge.runtime.errors import InvalidInputError

ACCEPTED = 'points [[x, y(, label)], ...], boxes [[x0, y0, x1, y1], ...] or prompts [{"points": ..., "box": ...}]'


@dataclass(frozen=True)
class Prompt:
    """One prompt: ``points`` [N, 2] (x, y) with ``labels`` [N] (None when there are no points), ``box`` [4]."""

    points: list | None
    labels: list | None
    box: list | None


def parse_prompts(fields: dict | None) -> list[Prompt]:
    """The prompts of ``fields`` (module docstring); at least one, else InvalidInputError."""
    fields = fields or {}
    prompts = []
    for index, point in enumerate(_json_list(fields, "points")):
        points, labels = _points([point], f"points[{index}]")
        prompts.append(Prompt(points, labels, None))
    for index, box in enumerate(_json_list(fields, "boxes")):
        prompts.append(Prompt(None, None, _box(box, f"boxes[{index}]")))
    for index, entry in enumerate(_json_list(fields, "prompts")):
        prompts.append(_combined(entry, f"prompts[{index}]"))
    if not prompts:
        raise InvalidInputError(f"no prompts for this image; give {ACCEPTED} in its manifest row or --prompts file")
    return prompts


def _json_list(fields: dict, key: str) -> list:
    value = fields.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InvalidInputError(f"{key} is not valid JSON ({value[:60]!r}); expected {ACCEPTED}") from None
    if not isinstance(value, list):
        raise InvalidInputError(f"{key} must be a list; got {type(value).__name__}; expected {ACCEPTED}")
    return value


def _combined(entry, where: str) -> Prompt:
    if not isinstance(entry, dict) or not ({"points", "box"} & set(entry)):
        raise InvalidInputError(f'{where} must be an object with "points" and/or "box"; got {entry!r:.80}')
    points = labels = box = None
    if entry.get("points") is not None:
        if not isinstance(entry["points"], list) or not entry["points"]:
            raise InvalidInputError(f"{where}.points must be a non-empty list of [x, y(, label)]")
        points, labels = _points(entry["points"], f"{where}.points")
    if entry.get("box") is not None:
        box = _box(entry["box"], f"{where}.box")
    return Prompt(points, labels, box)


def _points(values: list, where: str) -> tuple[list, list]:
    points, labels = [], []
    for value in values:
        numbers = _numbers(value, (2, 3), where, "[x, y] or [x, y, label]")
        if len(numbers) == 3 and numbers[2] not in (0, 1):
            raise InvalidInputError(f"{where}: label must be 1 (foreground) or 0 (background); got {numbers[2]:g}")
        points.append(numbers[:2])
        labels.append(int(numbers[2]) if len(numbers) == 3 else 1)
    return points, labels


def _box(value, where: str) -> list:
    x0, y0, x1, y1 = _numbers(value, (4,), where, "[x0, y0, x1, y1]")
    if x1 < x0 or y1 < y0:
        raise InvalidInputError(f"{where}: a box is [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1; got {value}")
    return [x0, y0, x1, y1]


def _numbers(value, lengths: tuple, where: str, shape: str) -> list[float]:
    valid = (
        isinstance(value, list)
        and len(value) in lengths
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    )
    if not valid:
        raise InvalidInputError(f"{where} must be {shape} of finite numbers; got {json.dumps(value)[:80]}")
    return [float(v) for v in value]
