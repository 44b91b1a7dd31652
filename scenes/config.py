"""SceneConfig: the knobs of the scene generator, validated once when the config is made.

Ranges are ``(low, high)`` tuples sampled once per scene (image size, blur, noise, object count) or once
per object (object size). Weights are relative: they need not sum to 1, a kind with weight 0 never
appears. Every impossible setting raises ``InvalidInputError`` naming the field, the bad value and what
is accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from sam_edge.runtime.errors import InvalidInputError

# Order matters: it fixes how a weight vector maps to kinds, so the random stream (and with it every
# seeded scene, the held-out benchmark included) stays the same. Append new kinds at the end.
SHAPE_KINDS = ("polygon", "star", "ellipse", "blob", "thin", "holed")
TEXTURE_KINDS = ("flat", "stripes", "linear_gradient", "radial_gradient", "checker", "dots", "noise")

MIN_IMAGE_SIDE = 64
MAX_IMAGE_SIDE = 8192
MAX_OBJECTS = 500
MAX_DISTRACTORS = 255  # drawn as labels into one uint8 canvas

Range = tuple  # (low, high); a plain tuple so configs print and compare simply


def _default_shape_weights() -> dict[str, float]:
    return {"polygon": 1.0, "star": 0.7, "ellipse": 1.0, "blob": 1.3, "thin": 1.2, "holed": 0.6}


def _default_texture_weights() -> dict[str, float]:
    return {
        "flat": 1.0,
        "stripes": 0.8,
        "linear_gradient": 0.8,
        "radial_gradient": 0.6,
        "checker": 0.4,
        "dots": 0.4,
        "noise": 0.8,
    }


@dataclass(frozen=True)
class SceneConfig:
    """How scenes are drawn. Sizes are in pixels unless a field says "fraction".

    Image size: ``long_side`` (px) and ``aspect_ratio`` (width / height) are sampled per scene, the
    long side uniformly and the aspect log-uniformly; the short side is ``round(long / max(a, 1/a))``.
    ``object_size`` is an object's diameter as a fraction of the image's short side (log-uniform, so
    small objects are as common per octave as large ones, as in dead-leaves models).
    ``distractor_size`` is the same for background clutter shapes, which are never instances.
    ``thin_width`` is the stroke width of thin structures as a fraction of the short side (at least 2 px).
    An instance is kept in the ground truth only if its visible area is at least
    ``max(min_visible_pixels, min_visible_fraction * H * W)``; smaller ones stay painted.
    ``blur_sigma`` is a Gaussian sigma in px, ``noise_std`` the sensor noise std in uint8 levels.
    ``shading_probability`` is the chance an object gets a lighting gradient on top of its texture.
    """

    long_side: Range = (256, 1024)
    aspect_ratio: Range = (0.5, 2.0)
    object_count: Range = (8, 32)
    object_size: Range = (0.08, 0.7)
    distractor_count: Range = (4, 40)
    distractor_size: Range = (0.01, 0.05)
    shape_weights: Mapping[str, float] = field(default_factory=_default_shape_weights)
    texture_weights: Mapping[str, float] = field(default_factory=_default_texture_weights)
    shading_probability: float = 0.5
    thin_width: Range = (0.006, 0.018)
    blur_sigma: Range = (0.0, 1.0)
    noise_std: Range = (0.0, 6.0)
    min_visible_fraction: float = 0.002
    min_visible_pixels: int = 64

    def __post_init__(self) -> None:
        self._set_range("long_side", MIN_IMAGE_SIDE, MAX_IMAGE_SIDE, integer=True)
        self._set_range("aspect_ratio", 0.05, 20.0)
        _check_short_side(self.long_side, self.aspect_ratio)
        self._set_range("object_count", 1, MAX_OBJECTS, integer=True)
        self._set_range("object_size", 1e-3, 4.0)
        self._set_range("distractor_count", 0, MAX_DISTRACTORS, integer=True)
        self._set_range("distractor_size", 1e-3, 1.0)
        self._set_range("thin_width", 1e-3, 0.2)
        self._set_range("blur_sigma", 0.0, 20.0)
        self._set_range("noise_std", 0.0, 128.0)
        _check_fraction("shading_probability", self.shading_probability, 1.0)
        _check_fraction("min_visible_fraction", self.min_visible_fraction, 0.5)
        if (
            isinstance(self.min_visible_pixels, bool)
            or not isinstance(self.min_visible_pixels, int)
            or (self.min_visible_pixels < 1)
        ):
            raise InvalidInputError(
                f"SceneConfig.min_visible_pixels must be an int >= 1, got {self.min_visible_pixels!r}"
            )
        # Copy the mappings (a caller's dict must not change a config after validation), in kind order.
        # Plain dicts rather than read-only proxies: configs must pickle (data-loader workers).
        shapes = _check_weights("shape_weights", self.shape_weights, SHAPE_KINDS)
        textures = _check_weights("texture_weights", self.texture_weights, TEXTURE_KINDS)
        object.__setattr__(self, "shape_weights", shapes)
        object.__setattr__(self, "texture_weights", textures)

    def _set_range(self, name: str, lowest: float, highest: float, integer: bool = False) -> None:
        """Check a (low, high) field and store it as a tuple of int (integer=True) or float."""
        value = getattr(self, name)
        _check_range(name, value, lowest, highest, integer)
        cast = int if integer else float
        object.__setattr__(self, name, (cast(value[0]), cast(value[1])))

    def shape_probabilities(self) -> np.ndarray:
        """float64 [len(SHAPE_KINDS)]: normalised shape weights in SHAPE_KINDS order."""
        return _probabilities(self.shape_weights, SHAPE_KINDS)

    def texture_probabilities(self) -> np.ndarray:
        """float64 [len(TEXTURE_KINDS)]: normalised texture weights in TEXTURE_KINDS order."""
        return _probabilities(self.texture_weights, TEXTURE_KINDS)

    def __hash__(self) -> int:  # the weight mappings are dicts; hash their sorted items instead
        fields = tuple(tuple(sorted(v.items())) if isinstance(v, Mapping) else v for v in self.__dict__.values())
        return hash(fields)


def _check_range(name: str, value, lowest: float, highest: float, integer: bool = False) -> None:
    """A (low, high) pair of finite numbers with lowest <= low <= high <= highest."""
    kind = "int" if integer else "number"
    accepted = f"a (low, high) pair of {kind}s with {lowest} <= low <= high <= {highest}"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InvalidInputError(f"SceneConfig.{name} must be {accepted}, got {value!r}")
    for v in value:
        is_number = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        if not is_number or (integer and not float(v).is_integer()) or not math.isfinite(float(v)):
            raise InvalidInputError(f"SceneConfig.{name} must be {accepted}, got {value!r}")
    low, high = value
    if low > high:
        raise InvalidInputError(f"SceneConfig.{name}: min {low} is greater than max {high}; {accepted}")
    if low < lowest or high > highest:
        raise InvalidInputError(f"SceneConfig.{name} = {tuple(value)} is out of bounds; {accepted}")


def _check_short_side(long_side: Range, aspect_ratio: Range) -> None:
    """The most elongated image must still have a short side >= MIN_IMAGE_SIDE."""
    elongation = max(aspect_ratio[1], 1.0 / aspect_ratio[0])
    short = round(long_side[0] / elongation)
    if short < MIN_IMAGE_SIDE:
        raise InvalidInputError(
            f"SceneConfig: image side {short} px < {MIN_IMAGE_SIDE} px (long_side min {long_side[0]} at "
            f"aspect ratio {elongation:g}:1); raise long_side or narrow aspect_ratio so that "
            f"long_side[0] / max(aspect_ratio[1], 1 / aspect_ratio[0]) >= {MIN_IMAGE_SIDE}"
        )


def _check_fraction(name: str, value, highest: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= highest
    if not ok:
        raise InvalidInputError(f"SceneConfig.{name} must be a number in [0, {highest}], got {value!r}")


def _check_weights(name: str, weights, kinds: tuple[str, ...]) -> dict[str, float]:
    """Known kinds only, finite and >= 0, not all zero; returns a new dict in `kinds` order."""
    if not isinstance(weights, Mapping):
        raise InvalidInputError(f"SceneConfig.{name} must be a mapping kind -> weight, got {type(weights).__name__}")
    unknown = sorted(set(weights) - set(kinds))
    if unknown:
        raise InvalidInputError(f"SceneConfig.{name}: unknown kind(s) {unknown}; accepted kinds: {list(kinds)}")
    out = {}
    for kind in kinds:
        w = weights.get(kind, 0.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise InvalidInputError(f"SceneConfig.{name}[{kind!r}] must be a finite number >= 0, got {w!r}")
        out[kind] = float(w)
    if sum(out.values()) <= 0:
        raise InvalidInputError(
            f"SceneConfig.{name}: all weights are zero; give at least one of {list(kinds)} a weight > 0"
        )
    return out


def _probabilities(weights: Mapping[str, float], kinds: tuple[str, ...]) -> np.ndarray:
    p = np.array([weights[k] for k in kinds], dtype=np.float64)
    return p / p.sum()


DEFAULT_CONFIG = SceneConfig()
