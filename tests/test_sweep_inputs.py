"""Property sweep of what the runtime reads without a model: load_image on any array or PIL image,
ImageEmbedding.load on .npz files of any fields, GraphMetadata.from_json on any JSON (tests/sweep_strategies.py).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from sweep_strategies import ANYTHING, REFUSED, SWEEP, any_array, image_arrays, returns_or_refuses

from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.image_io import load_image
from sam_edge.runtime.metadata import GraphMetadata

PIL_MODES = [
    "1",
    "L",
    "LA",
    "La",
    "P",
    "PA",
    "RGB",
    "RGBA",
    "RGBa",
    "RGBX",
    "CMYK",
    "YCbCr",
    "LAB",
    "HSV",
    "I",
    "F",
    "I;16",
    "I;16L",
    "I;16B",
    "I;16N",
]
MAX_PIXELS = st.none() | st.integers(-2, 40) | st.booleans() | st.floats(-1, 40) | st.text(max_size=2)


def check_rgb(rgb, height: int, width: int) -> None:
    assert isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    assert rgb.shape in ((height, width, 3), (width, height, 3)), rgb.shape  # EXIF may turn it a quarter


@SWEEP
@given(array=image_arrays(), max_pixels=MAX_PIXELS)
def test_load_image_returns_or_refuses_any_array(array, max_pixels):
    rgb = returns_or_refuses(load_image, array, max_pixels)
    if rgb is not REFUSED:
        check_rgb(rgb, *array.shape[:2])
        assert array.shape[0] * array.shape[1] <= (max_pixels or np.inf)


@st.composite
def pil_images(draw) -> Image.Image:
    """Any mode and size (empty included), random pixel bytes and palette, any EXIF orientation value."""
    mode = draw(st.sampled_from(PIL_MODES))
    size = (draw(st.integers(0, 5)), draw(st.integers(0, 5)))
    count = len(Image.new(mode, size).tobytes())
    pixels = draw(st.binary(min_size=count, max_size=count))
    image = Image.frombytes(mode, size, pixels) if count else Image.new(mode, size)
    if mode in ("P", "PA") and draw(st.booleans()):
        image.putpalette(draw(st.binary(min_size=3, max_size=48)))
    orientation = draw(st.none() | st.integers(-1, 10))
    if orientation is not None:
        image.getexif()[0x0112] = orientation
    return image


@SWEEP
@given(image=pil_images())
def test_load_image_returns_or_refuses_any_pil_image(image):
    rgb = returns_or_refuses(load_image, image)
    if rgb is not REFUSED:
        check_rgb(rgb, image.height, image.width)


VALID_FIELDS = {
    "embeddings": np.zeros((1, 4, 3, 3), np.float32),
    "original_size": np.array([30, 40]),
    "input_size": np.array([768, 1024]),
    "model_id": np.str_("nano-e39bdf9cc37c"),
    "model_type": np.str_("nano"),
    "format_version": np.int64(1),
}


@st.composite
def npz_fields(draw) -> dict:
    """The fields save writes, some replaced by any array or Python value (pickled ones too), some dropped."""
    fields = dict(VALID_FIELDS)
    for key in draw(st.sets(st.sampled_from(sorted(VALID_FIELDS)))):
        if draw(st.booleans()):
            fields.pop(key)
        else:
            fields[key] = draw(any_array() | ANYTHING.map(lambda value: np.array(value, dtype=object)))
    return fields


@pytest.fixture(scope="module")
def scratch() -> Path:
    with tempfile.TemporaryDirectory(prefix="sweep-") as folder:
        yield Path(folder)


@SWEEP
@given(fields=npz_fields())
def test_embedding_load_returns_or_refuses_any_fields(scratch, fields):
    path = scratch / "embedding.npz"
    np.savez(path, **fields)
    embedding = returns_or_refuses(ImageEmbedding.load, path)
    if embedding is not REFUSED:
        array = embedding.embeddings
        assert array.dtype == np.float32 and array.ndim == 4 and array.shape[0] == 1 and np.isfinite(array).all()
        for size in (embedding.original_size, embedding.input_size):
            assert len(size) == 2 and all(type(side) is int and side >= 1 for side in size)
        assert isinstance(embedding.model_id, str) and isinstance(embedding.model_type, str)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)
BASE_RECORD = dataclasses.asdict(GraphMetadata(model_type="nano", model_id="nano-e39bdf9cc37c", part="encoder"))


@st.composite
def metadata_texts(draw) -> str:
    """The JSON of a valid record with some fields replaced (any JSON value, NaN and Infinity included) or
    dropped; or any JSON value; or any text."""
    kind = draw(st.sampled_from(["record", "record", "record", "value", "text"]))
    if kind == "text":
        return draw(st.text())
    if kind == "value":
        return json.dumps(draw(JSON_VALUES))
    record = dict(BASE_RECORD)
    for key in draw(st.sets(st.sampled_from(sorted(BASE_RECORD)))):
        if draw(st.booleans()):
            record.pop(key)
        else:
            record[key] = draw(JSON_VALUES)
    return json.dumps(record)


@SWEEP
@given(text=metadata_texts())
def test_graph_metadata_returns_or_refuses_any_json(text):
    metadata = returns_or_refuses(GraphMetadata.from_json, text, "graph.onnx")
    if metadata is not REFUSED:
        assert all(isinstance(getattr(metadata, name), str) for name in ("model_type", "model_id", "part", "precision"))
        assert type(metadata.image_size) is int and metadata.image_size >= 1
        shape = metadata.embedding_shape
        assert len(shape) == 4 and all(type(side) is int and side >= 1 for side in shape)
        assert len(metadata.pixel_std) == 3 and all(std > 0 for std in metadata.pixel_std)
