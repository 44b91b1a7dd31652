"""What the property sweep (tests/test_sweep_*.py) and the fuzzer (tests/fuzz/fuzz_inputs.py) found, each
pinned with the exact answer it gets now: a one-line SamEdgeError instead of another exception or NaN.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest

from sam_edge.runtime import embedding as embedding_module
from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.errors import InvalidInputError, ModelFileError
from sam_edge.runtime.image_io import load_image
from sam_edge.runtime.mask_upscale import MaskUpscaler
from sam_edge.runtime.metadata import GraphMetadata
from sam_edge.runtime.prompts import build_decoder_feeds
from sam_edge.runtime.transforms import preprocess_shape

SIZES = ((24, 32), (768, 1024))  # original_size, input_size


def valid_fields() -> dict:
    return {
        "embeddings": np.zeros((1, 4, 3, 3), np.float32),
        "original_size": np.array([24, 32]),
        "input_size": np.array([768, 1024]),
        "model_id": np.str_("nano-e39bdf9cc37c"),
        "model_type": np.str_("nano"),
    }


def saved(tmp_path, **changes) -> str:
    path = tmp_path / "embedding.npz"
    np.savez(path, **(valid_fields() | changes))
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "[2",
            "graph.onnx: unreadable sam_edge metadata (Expecting ',' delimiter: line 1 column 3 (char 2)); "
            "re-export the model with sam-edge export",
        ),
        (
            "[1, 2]",
            "graph.onnx: sam_edge metadata must be a JSON object, got a list; re-export the model with sam-edge export",
        ),
        (
            '{"model_type": 1, "model_id": "m", "part": "encoder", "pixel_std": [1, 0, 1]}',
            "graph.onnx: sam_edge metadata has malformed model_type, pixel_std; "
            "re-export the model with sam-edge export",
        ),
        (
            '{"model_id": "m", "part": "encoder", "image_size": NaN}',
            "graph.onnx: sam_edge metadata lacks model_type; re-export the model with sam-edge export",
        ),
        (
            '{"model_type": "t", "model_id": "m", "part": "encoder", "image_size": Infinity}',
            "graph.onnx: sam_edge metadata has malformed image_size; re-export the model with sam-edge export",
        ),
        ("[" * 100_000, "graph.onnx: unreadable sam_edge metadata (maximum recursion depth exceeded"),
    ],
)
def test_graph_metadata_that_is_not_a_record(text, message):
    with pytest.raises(ModelFileError) as caught:
        GraphMetadata.from_json(text, "graph.onnx")
    assert str(caught.value).startswith(message)


def test_embedding_with_a_damaged_deflate_stream(tmp_path):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **valid_fields())
    data = bytearray(buffer.getvalue())
    start = data.index(b"embeddings.npy") + len("embeddings.npy")
    data[start + 20 : start + 60] = bytes(40)  # inside the compressed stream of the first member
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(data))
    expected = rf"^{path} is not a sam-edge embedding .npz \(Error -3 while decompressing"
    with pytest.raises(InvalidInputError, match=expected):
        ImageEmbedding.load(path)


def test_embedding_whose_array_header_ends_inside_a_bracket(tmp_path):
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4,\n"  # numpy tokenizes it: TokenError
    path = tmp_path / "cut-header.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("embeddings.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
    with pytest.raises(InvalidInputError) as caught:
        ImageEmbedding.load(path)
    assert str(caught.value) == f"{path} is not a sam-edge embedding .npz (a damaged array header)"


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"embeddings": np.full((1, 4, 3, 3), np.nan, np.float32)},
            "embeddings contain NaN or inf; an encoder never writes those",
        ),
        (
            {"embeddings": np.zeros((1, 0, 3, 3), np.float32)},
            "embeddings must be float32 [1, C, h, w]; got float32 (1, 0, 3, 3)",
        ),
        ({"model_id": np.arange(3)}, "model_id must be a string; got a int64 array of shape (3,)"),
        (
            {"original_size": np.ones((50, 50), np.int64)},
            "original_size must be two positive integers (H, W); got a int64 array of shape (50, 50)",
        ),
    ],
)
def test_embedding_fields_the_sweep_found(tmp_path, changes, message):
    path = saved(tmp_path, **changes)
    with pytest.raises(InvalidInputError) as caught:
        ImageEmbedding.load(path)
    assert str(caught.value) == f"{path}: {message}"


def test_embedding_member_too_large_to_unpack_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(embedding_module, "_MAX_FIELD_BYTES", 100)
    path = saved(tmp_path)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("embeddings.npy").file_size > 100
    with pytest.raises(InvalidInputError, match=r"\(embeddings.npy unpacks to more than 0 MiB\)"):
        ImageEmbedding.load(path)


@pytest.mark.parametrize(
    "prompt, message",
    [
        (
            {"point_coords": [[10**400, 1]], "point_labels": [1]},
            "point_coords must be real numbers, shaped [N, 2]; got list",
        ),
        (
            {"point_coords": [[1, 1]], "point_labels": [1], "mask_input": np.full((1, 256, 256), 1e38, np.float32)},
            "mask_input holds logits up to 1e+38 in magnitude; expected low-res logits within +-1e+06 "
            "(predict returns them within about +-100)",
        ),
        (
            {"point_coords": [[1, 1]], "point_labels": [1], "mask_input": np.full((1, 256, 256), 1e300)},
            "mask_input holds logits up to 1e+300 in magnitude; expected low-res logits within +-1e+06",
        ),
    ],
)
def test_prompts_the_sweep_found(prompt, message):
    with pytest.raises(InvalidInputError) as caught:
        build_decoder_feeds(*SIZES, **prompt)
    assert str(caught.value).startswith(message)


def test_mask_size_beyond_the_image_and_50_megapixels():
    with pytest.raises(InvalidInputError) as caught:
        MaskUpscaler(*SIZES, output_size=(10**9, 10**9))
    assert str(caught.value) == (
        "mask size 1000000000x1000000000 is 1,000,000,000,000,000,000 pixels, above the limit of 50,000,000 "
        "(the image's or 50,000,000 pixels, whichever is larger); ask for a smaller mask_size"
    )
    assert MaskUpscaler(*SIZES, output_size=(5000, 10000)).output_size == (5000, 10000)


def test_timedelta_image_and_non_integer_sizes():
    with pytest.raises(InvalidInputError, match=r"^image dtype timedelta64\[s\] is not supported; accepted dtypes"):
        load_image(np.zeros((2, 2), "m8[s]"))
    with pytest.raises(InvalidInputError, match=r"^sizes must be positive integers, got height=None, width=None"):
        preprocess_shape(None, None, 1024)
    with pytest.raises(InvalidInputError, match=r"^sizes must be positive integers, got height=2.5"):
        preprocess_shape(2.5, 3, 1024)


def test_embedding_holding_pickles_gets_no_advice_to_load_them(tmp_path):
    path = tmp_path / "pickled.npz"
    path.write_bytes(b"hello, not an archive\n")  # numpy takes unknown bytes for a pickle
    with pytest.raises(InvalidInputError) as caught:
        ImageEmbedding.load(path)
    assert (
        str(caught.value)
        == f"{path} is not a sam-edge embedding .npz (it holds pickled Python objects, which are never loaded)"
    )


def test_embedding_field_stored_as_a_raw_archive_member_is_missing(tmp_path):
    path = saved(tmp_path)
    with zipfile.ZipFile(path, "a") as archive:  # numpy returns a member without .npy as bytes
        archive.writestr("model_type", b"nano")
    with zipfile.ZipFile(path) as archive:
        kept = [info for info in archive.infolist() if info.filename != "model_type.npy"]
        members = {info.filename: archive.read(info) for info in kept}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(InvalidInputError) as caught:
        ImageEmbedding.load(path)
    assert str(caught.value) == (
        f"{path} lacks model_type; expected a file written by save_embedding / --save-embedding"
    )
