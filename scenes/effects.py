"""Whole-image camera effects on a float32 [3, H, W] planar canvas, in place: blur and sensor noise.

Both work plane by plane with one reused buffer, because fresh image-sized temporaries cost page faults
and Pillow's GaussianBlur is several times slower on these images than the separable filter below.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

_F = np.float32
# Standard normal quantiles at (i + 0.5) / 256: maps a uniform random byte to a Gaussian sample. Drawing
# bytes and looking them up is ~5x faster than rng.standard_normal, and 256 levels are plenty for noise
# a few grey levels strong.
_NORMAL_BY_BYTE = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], _F)
# One pass of the [w, 1 - 2w, w] kernel adds variance 2w; w <= 1/4 keeps the kernel unimodal.
_MAX_VARIANCE_PER_PASS = 0.5


def blur_planes(canvas: np.ndarray, sigma: float) -> None:
    """Gaussian-like blur of std `sigma` px: repeated separable 3-tap passes, edges replicated."""
    passes = max(1, math.ceil(sigma * sigma / _MAX_VARIANCE_PER_PASS))
    weight = _F(sigma * sigma / (2 * passes))
    buffer = np.empty(canvas.shape[1:], _F)
    for plane in canvas:
        for _ in range(passes):
            _smooth_axis(plane, buffer, weight, axis=1)
            _smooth_axis(plane, buffer, weight, axis=0)


def _smooth_axis(plane: np.ndarray, buffer: np.ndarray, weight: np.float32, axis: int) -> None:
    """plane = (1 - 2w) plane + w (previous + next neighbour) along `axis`, in place.

    Slices along the axis instead of a transposed view, so both passes read memory row by row.
    """

    def at(index):  # index along `axis`, all of the other axis
        return (slice(None), index) if axis == 1 else (index,)

    np.add(plane[at(slice(None, -2))], plane[at(slice(2, None))], out=buffer[at(slice(1, -1))])
    np.add(plane[at(0)], plane[at(1)], out=buffer[at(0)])  # the missing outer neighbour repeats the edge
    np.add(plane[at(-2)], plane[at(-1)], out=buffer[at(-1)])
    buffer *= weight
    plane *= _F(1.0) - _F(2.0) * weight
    plane += buffer


def add_noise(rng: np.random.Generator, canvas: np.ndarray, std: float) -> None:
    """Add Gaussian noise of `std` grey levels to every pixel of every plane, independent per channel.

    One flat run of samples serves all planes at different offsets (plane k starts k * shift samples
    in), so each pixel gets three different samples for about half the random bytes. The shift is a
    large random fraction of the image, so samples shared between channels sit far apart in space.
    """
    height, width = canvas.shape[1:]
    shift = int(rng.integers(height * width // 8, height * width // 4 + 1))
    lookup = _NORMAL_BY_BYTE * _F(std)
    draws = np.frombuffer(rng.bytes(height * width + 2 * shift), np.uint8)
    samples = np.take(lookup, draws)
    for k, plane in enumerate(canvas):
        plane += samples[k * shift : k * shift + height * width].reshape(height, width)
