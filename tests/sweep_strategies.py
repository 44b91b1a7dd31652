"""Hypothesis strategies for the bad-input sweep: arrays of any dtype and shape, Python values of any kind,
and prompts that mix well-formed parts with anything at all.

The property every runtime entry point must keep (``returns_or_refuses``): a well-formed result, or a
SamEdgeError whose message is one line; never any other exception. ``SWEEP`` holds the settings:
500 examples per property (``SAM_EDGE_SWEEP_EXAMPLES`` raises it for a longer run), derandomized so
CI runs the same examples every time; ``SAM_EDGE_SWEEP_RANDOM=1`` draws new ones (a failure prints
how to reproduce it).
"""

from __future__ import annotations

import functools
import os

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sam_edge.runtime.errors import SamEdgeError

LOW_RES = 256
MAX_MESSAGE = 500  # characters: one readable line, not a dump of an array

SWEEP = settings(
    max_examples=int(os.environ.get("SAM_EDGE_SWEEP_EXAMPLES", "500")),
    deadline=None,
    derandomize=not os.environ.get("SAM_EDGE_SWEEP_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

DTYPES = [
    "?",
    "i1",
    "u1",
    "i2",
    "u2",
    ">u2",
    "i4",
    "u4",
    "i8",
    "u8",
    "f2",
    "f4",
    ">f4",
    "f8",
    "g",
    "c8",
    "U3",
    "S2",
    "M8[s]",
    "m8[s]",
    [("r", "u1"), ("g", "u1")],
]
FILL_FLOATS = [0.0, 1.0, -1.0, 0.5, -30.0, 1e4, 1e38, -1e38, 1e300, float("nan"), float("inf"), -float("inf")]


REFUSED = object()  # what returns_or_refuses gives for a SamEdgeError


def returns_or_refuses(call, *args, **kwargs):
    """``call(...)``'s result, or REFUSED when it raised a SamEdgeError with a one-line message."""
    try:
        return call(*args, **kwargs)
    except SamEdgeError as error:
        message = str(error)
        assert message and "\n" not in message and len(message) <= MAX_MESSAGE, repr(message)
        return REFUSED


def any_dtype() -> st.SearchStrategy[np.dtype]:
    return st.sampled_from(DTYPES).map(np.dtype)


def any_array(max_dims: int = 4, max_side: int = 5) -> st.SearchStrategy[np.ndarray]:
    """Any dtype, 0 to ``max_dims`` dimensions, sides 0 to ``max_side``, any element values (NaN, inf, extremes)."""
    return hnp.arrays(any_dtype(), hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side))


def python_values() -> st.SearchStrategy[object]:
    """Nested lists / tuples of None, bools, unbounded ints, any floats, short strings and bytes."""
    leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3) | st.binary(max_size=3)
    return st.recursive(
        leaves, lambda children: st.lists(children, max_size=4) | st.tuples(children, children), max_leaves=12
    )


# Built once: strategies made afresh per example cost more to validate than to draw.
ANYTHING = any_array() | python_values()


def image_arrays() -> st.SearchStrategy[np.ndarray]:
    """Arrays shaped like images (HxW, HxWxC) of any dtype, or of any shape at all."""
    shape = st.tuples(st.integers(0, 6), st.integers(0, 6)) | st.tuples(
        st.integers(0, 6), st.integers(0, 6), st.sampled_from([0, 1, 2, 3, 4, 5])
    )
    return hnp.arrays(any_dtype(), shape) | any_array()


def as_given(array: np.ndarray, form: str):
    """The same numbers as an ndarray, a nested list, or a tuple of rows (how callers pass prompts)."""
    if form == "list":
        return array.tolist()
    if form == "tuple":
        return tuple(array.tolist())
    return array


@functools.lru_cache(maxsize=None)
def coordinates(leading: tuple[int, ...], size_hw: tuple[int, int]) -> st.SearchStrategy:
    """Points (x, y) inside an image of size_hw, shaped leading + (2,), in a random numeric form."""
    height, width = size_hw
    count = int(np.prod(leading))

    def build(parts):
        xs, ys, dtype, form = parts
        return as_given(np.stack([xs, ys], axis=-1).reshape(leading + (2,)).astype(dtype), form)

    return st.tuples(
        st.lists(st.floats(0, width), min_size=count, max_size=count),
        st.lists(st.floats(0, height), min_size=count, max_size=count),
        st.sampled_from(["f4", "f8", "i8"]),
        st.sampled_from(["array", "list", "tuple"]),
    ).map(build)


@functools.lru_cache(maxsize=None)
def labels(shape: tuple[int, ...]) -> st.SearchStrategy:
    count = int(np.prod(shape))

    def build(parts):
        values, dtype, form = parts
        return as_given(np.array(values).reshape(shape).astype(dtype), form)

    return st.tuples(
        st.lists(st.sampled_from([0, 1]), min_size=count, max_size=count),
        st.sampled_from(["i8", "f4", "?"]),
        st.sampled_from(["array", "list"]),
    ).map(build)


@functools.lru_cache(maxsize=None)
def boxes(leading: tuple[int, ...], size_hw: tuple[int, int]) -> st.SearchStrategy:
    """Boxes (x0, y0, x1, y1) inside the image with x0 <= x1, y0 <= y1, shaped leading + (4,)."""

    def build(parts):
        corners, form = parts
        corners = np.asarray(corners, dtype=np.float64)
        return as_given(np.concatenate([corners.min(axis=-2), corners.max(axis=-2)], axis=-1), form)

    return st.tuples(coordinates(leading + (2,), size_hw), st.sampled_from(["array", "list"])).map(build)


LOGITS = st.floats(-40, 40)


def filled_arrays(shape: tuple[int, ...], dtypes: list[str], fills: list[float], values=LOGITS):
    """Arrays of ``shape``: one fill value and up to six drawn values at drawn places.

    Built with numpy from a handful of draws: hypothesis.extra.numpy takes ~20 ms per 256x256 array.
    """

    def build(parts) -> np.ndarray:
        dtype, fill, placed = parts
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.full(shape, fill, dtype=dtype)
            flat = array.reshape(-1)
            for index, value in placed:
                if flat.size:
                    flat[index % flat.size] = value
        return array

    placed = st.lists(st.tuples(st.integers(0, 2**20), values), max_size=6)
    return st.tuples(st.sampled_from(dtypes), st.sampled_from(fills), placed).map(build)


@functools.lru_cache(maxsize=None)
def low_res_masks(leading: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Logits shaped leading + (256, 256), NaN, inf and 1e38 fills included."""
    return filled_arrays(leading + (LOW_RES, LOW_RES), ["f4", "f8", "f2"], FILL_FLOATS)


# Mask inputs of wrong shapes and types: any leading dims before 256x256, or anything at all.
WRONG_MASK_LEADING = [(), (0,), (2,), (1, 1), (3, 1), (1, 2), (2, 1, 1), (1, 1, 1)]
ANY_MASK_INPUT = st.sampled_from(WRONG_MASK_LEADING).flatmap(low_res_masks) | ANYTHING


def mask_sizes() -> st.SearchStrategy[object]:
    """(height, width) pairs of small, zero, negative, huge, infinite, NaN or non-integer sides, arrays of
    any shape, and other values."""
    side = (
        st.integers(-3, 48)
        | st.sampled_from([10**8, 10**9, 10**12, -(10**9), 2**70])
        | st.floats(-3, 48)
        | st.sampled_from([float("nan"), float("inf"), float("-inf")])
        | st.text(max_size=2)
    )
    flat_arrays = hnp.arrays(st.sampled_from(["i1", "u2", "i8", "?"]), st.integers(0, 3)) | hnp.arrays(
        "f4", hnp.array_shapes(max_dims=2, max_side=3), elements=st.floats(width=32)
    )
    junk = st.none() | st.booleans() | st.integers() | st.text(max_size=3) | st.binary(max_size=3)
    return st.tuples(side, side) | st.lists(side, max_size=3) | junk | flat_arrays


MASK_SIZES = mask_sizes()


def pick(draw, weights: dict[str, int], strategies: dict[str, st.SearchStrategy]):
    """Draw a kind by weight ("valid": 3, "none": 1, ...), then a value from that kind's strategy."""
    kind = draw(st.sampled_from([name for name, weight in weights.items() for _ in range(weight)]))
    return draw(strategies[kind])


@st.composite
def prompts(draw, size_hw: tuple[int, int], batched: bool) -> dict:
    """Keyword arguments of predict (``batched``: predict_batch): points, labels, box(es), mask_input, mask_size.

    Points and labels come as a well-formed pair (3 in 5), both None, or either one anything.
    """
    batch = (draw(st.integers(1, 2)),) if batched else ()
    points = batch + (draw(st.integers(1, 4)),)
    any_or = {"none": st.none(), "garbage": ANYTHING}
    pair = pick(
        draw,
        {"valid": 3, "none": 1, "garbage": 1},
        {"valid": st.just("valid"), "none": st.just("none"), "garbage": st.just("garbage")},
    )
    if pair == "garbage":
        coords = pick(draw, {"valid": 1, "none": 1, "garbage": 2}, {"valid": coordinates(points, size_hw), **any_or})
        point_labels = pick(draw, {"valid": 1, "none": 1, "garbage": 2}, {"valid": labels(points), **any_or})
    else:
        coords = draw(coordinates(points, size_hw)) if pair == "valid" else None
        point_labels = draw(labels(points)) if pair == "valid" else None
    mask_leading = batch + (1,) if batched else (1,)
    return {
        "point_coords": coords,
        "point_labels": point_labels,
        "boxes" if batched else "box": pick(
            draw, {"valid": 2, "none": 2, "garbage": 1}, {"valid": boxes(batch, size_hw), **any_or}
        ),
        "mask_input": pick(
            draw,
            {"valid": 1, "none": 2, "garbage": 1},
            {"valid": low_res_masks(mask_leading), "none": st.none(), "garbage": ANY_MASK_INPUT},
        ),
        "multimask_output": draw(st.booleans()),
        "return_logits": draw(st.booleans()),
        "mask_size": pick(draw, {"none": 2, "garbage": 1}, {"none": st.none(), "garbage": MASK_SIZES}),
    }
