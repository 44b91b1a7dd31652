"""Texture fills: float32 [3, h, w] planar RGB in [0, 255] (unclipped) for a crop of h x w pixels.

Each texture mixes one or two random colours by a scalar pattern t [h, w] in [0, 1]. Coordinates are
pixel offsets inside the crop (x right, y down).

Why planar [3, h, w] and not [h, w, 3]: numpy is ~10x slower when it broadcasts over a last axis of
length 3 (tiny inner loops), and every texture op is per pixel. Planes keep each op one long contiguous
loop; the generator interleaves to H x W x 3 once, at the end. Ops write in place (``out=``) where a
temporary would be image-sized, because fresh large arrays cost page faults.
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image

_F = np.float32


def random_color(rng: np.random.Generator) -> np.ndarray:
    """float32 [3] RGB in [0, 255], drawn in HSV so greys, pastels and saturated colours all occur."""
    h = rng.random()
    s = rng.beta(1.2, 1.2)
    v = rng.uniform(0.08, 1.0)
    return np.array(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32) * 255.0


def related_color(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """A second colour: either unrelated or a visible shift of `base` (same material, two tones)."""
    if rng.random() < 0.5:
        return random_color(rng)
    shift = rng.uniform(40, 120) * rng.choice([-1.0, 1.0])
    return np.clip(base + shift + rng.normal(0, 25, 3), 0, 255).astype(np.float32)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """xs float32 [1, w], ys float32 [h, 1]: pixel coordinates for broadcasting."""
    return np.arange(w, dtype=_F)[None, :], np.arange(h, dtype=_F)[:, None]


def _along(rng: np.random.Generator, h: int, w: int, across: bool = False):
    """u float32 [h, w]: coordinate along a random direction (px); with across=True also v, at 90 deg."""
    xs, ys = _grid(h, w)
    a = rng.uniform(0, np.pi)
    c, s = _F(np.cos(a)), _F(np.sin(a))
    u = xs * c + ys * s
    return (u, ys * c - xs * s) if across else u


def _normalise(t: np.ndarray) -> np.ndarray:
    """Stretch t to [0, 1] in place."""
    t -= t.min()
    t *= _F(1.0 / max(float(t.max()), 1e-6))
    return t


def mix(c1: np.ndarray, c2: np.ndarray, t: np.ndarray) -> np.ndarray:
    """float32 [3, h, w]: c1 where t = 0, c2 where t = 1 (t float32 [h, w], any range scales linearly)."""
    out = np.empty((3,) + t.shape, _F)
    for k in range(3):
        np.multiply(t, c2[k] - c1[k], out=out[k])
        out[k] += c1[k]
    return out


def lowfreq_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """float32 [h, w] smooth noise in [0, 1] with features ~ `cell` px across.

    A small random grid upsampled bicubically by Pillow: smooth, C speed, cost independent of `cell`.
    """
    gh, gw = max(2, int(np.ceil(h / cell)) + 1), max(2, int(np.ceil(w / cell)) + 1)
    grid = np.frombuffer(rng.bytes(gh * gw), np.uint8).reshape(gh, gw)
    out = np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC), dtype=_F)
    out *= _F(1.0 / 255.0)
    return out


def texture(
    rng: np.random.Generator, kind: str, h: int, w: int, scale: float, grain: np.ndarray | None = None
) -> np.ndarray:
    """float32 [3, h, w] fill of `kind`; `scale` (px, ~ object size) sets pattern periods.

    grain: optional float32 [h, w] zero-mean fine noise (see grain_field); half the fills get it added
    as luminance, for "flat colour + noise" materials.
    """
    c1 = random_color(rng)
    c2 = related_color(rng, c1)
    if kind == "flat":
        out = np.empty((3, h, w), _F)
        for k in range(3):
            out[k].fill(c1[k])
    elif kind == "stripes":
        out = mix(c1, c2, _stripes(rng, h, w, scale))
    elif kind == "linear_gradient":
        out = mix(c1, c2, _normalise(_along(rng, h, w)))
    elif kind == "radial_gradient":
        out = mix(c1, c2, _radial(rng, h, w))
    elif kind == "checker":
        out = mix(c1, c2, _checker(rng, h, w, scale))
    elif kind == "dots":
        out = mix(c1, c2, _dots(rng, h, w, scale))
    elif kind == "noise":
        out = mix(c1, c2, lowfreq_noise(rng, h, w, rng.uniform(0.05, 0.5) * scale + 4))
    else:
        raise ValueError(f"unknown texture kind {kind!r}")
    if grain is not None and rng.random() < 0.5:
        out += grain * _F(rng.uniform(10, 50))  # broadcasts over the channel planes
    return out


def _stripes(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Stripes at a random angle, period 4 px .. ~scale/3, from hard-edged to sinusoidal."""
    u = _along(rng, h, w)
    period = rng.uniform(4, max(6.0, scale / 3))
    u *= _F(2 * np.pi / period)
    u += _F(rng.uniform(0, 2 * np.pi))
    wave = np.sin(u, out=u)
    sharpness = _F(rng.choice([1.0, 3.0, 20.0]))
    wave *= sharpness * _F(0.5)
    wave += _F(0.5)
    return np.clip(wave, 0, 1, out=wave)


def _checker(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Rotated checkerboard, cells 3 px .. ~0.3 scale: 0 on one colour, 1 on the other."""
    u, v = _along(rng, h, w, across=True)
    inv_cell = _F(1.0 / (rng.uniform(0.06, 0.3) * scale + 3))
    u *= inv_cell
    v *= inv_cell
    u = np.floor(u, out=u)
    u += np.floor(v, out=v)
    parity = u.astype(np.int32)  # (cell row + cell column) & 1; np.mod on floats is ~50x slower
    parity &= 1
    return parity.astype(_F)


def _radial(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Distance from a random centre in the crop, normalised to [0, 1] (sometimes repeating rings)."""
    xs, ys = _grid(h, w)
    dx2 = (xs - _F(rng.uniform(0, w))) ** 2
    dy2 = (ys - _F(rng.uniform(0, h))) ** 2
    t = np.sqrt(dx2 + dy2)
    t *= _F(1.0 / max(float(t.max()), 1.0))
    if rng.random() < 0.3:  # concentric rings
        t *= _F(rng.uniform(6, 25))
        np.sin(t, out=t)
        t *= _F(0.5)
        t += _F(0.5)
    return t


def _dots(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Polka dots on a rotated square lattice: 1 inside a dot, 0 between."""
    u, v = _along(rng, h, w, across=True)
    inv_cell = _F(1.0 / (rng.uniform(0.08, 0.3) * scale + 5))
    nearest = np.empty_like(u)
    for a in (u, v):  # squared offset from the nearest lattice line, in cells
        a *= inv_cell
        a -= np.rint(a, out=nearest)
        a *= a
    u += v
    radius = _F(rng.uniform(0.2, 0.45))
    return (u < radius * radius).astype(_F)


def grain_field(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """float32 [h, w] fine smooth noise in [-0.5, 0.5] (features 1.5-5 px), made once per scene.

    Fills take the crop under them: one upsampling per scene instead of one per object.
    """
    field = lowfreq_noise(rng, h, w, rng.uniform(1.5, 5.0))
    field -= _F(0.5)
    return field


def shade(rng: np.random.Generator, fill: np.ndarray) -> np.ndarray:
    """Multiply a [3, h, w] fill by a lighting gradient (linear ramp or spot-light falloff), in place."""
    h, w = fill.shape[1:]
    strength = _F(rng.uniform(0.2, 0.6))
    t = _normalise(_along(rng, h, w)) if rng.random() < 0.5 else _radial(rng, h, w)
    t *= _F(-2.0) * strength
    t += _F(1.0) + strength
    fill *= t
    return fill
