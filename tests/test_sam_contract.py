"""SamPredictor keeps segment_anything's predictor contract where it can (on the bundled model `nano`):
its attributes, get_image_embedding, image_format, label shapes, where the model comes from, graphs
refused at construction, decoding without an encoder, and the torch-only calls."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from predictor_checks import expect_error

from sam_edge.runtime.default_model import bundled_model_dir
from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.errors import InvalidInputError, ModelFileError, NoImageSetError, UnsupportedError
from sam_edge.runtime.model_dir import find_model_files
from sam_edge.runtime.predictor import SamPredictor

REPO = Path(__file__).resolve().parents[1]
SCENE = REPO / "assets" / "sample_scene.png"  # 640x480 RGB
NANO = bundled_model_dir("nano")
RING = ([[208, 185]], [1])  # a click on the yellow ring


@pytest.fixture(scope="module")
def scene_rgb() -> np.ndarray:
    return np.asarray(Image.open(SCENE).convert("RGB"))


@pytest.fixture(scope="module")
def nano(scene_rgb) -> SamPredictor:
    """The bundled model with the sample scene set; tests must not change its image."""
    predictor = SamPredictor("nano", threads=2)
    predictor.set_image(scene_rgb)
    return predictor


def assert_same(got, expected) -> None:
    np.testing.assert_array_equal(got.low_res_logits, expected.low_res_logits)
    np.testing.assert_array_equal(got.masks, expected.masks)
    np.testing.assert_array_equal(got.scores, expected.scores)


# Attributes


def test_attributes_before_an_image_is_set_are_none_as_official():
    predictor = SamPredictor("nano", with_encoder=False, threads=2)
    assert (predictor.is_image_set, predictor.original_size, predictor.input_size) == (False, None, None)
    assert predictor.features is None and predictor.image_embedding is None
    error = expect_error(NoImageSetError, "no image set: call set_image(image)", predictor.get_image_embedding)
    assert isinstance(error, RuntimeError)  # segment_anything raises a RuntimeError here too


def test_attributes_after_set_image_and_reset(scene_rgb):
    predictor = SamPredictor("nano", threads=2)
    returned = predictor.set_image(scene_rgb)
    assert predictor.is_image_set and returned is predictor.image_embedding
    assert (predictor.original_size, predictor.input_size) == ((480, 640), (768, 1024))
    features = predictor.features
    assert isinstance(features, np.ndarray) and features.dtype == np.float32 and features.shape == (1, 256, 64, 64)
    assert features is predictor.image_embedding.embeddings
    embedding = predictor.get_image_embedding()
    assert isinstance(embedding, np.ndarray) and embedding.dtype == np.float32 and embedding.shape == (1, 256, 64, 64)
    np.testing.assert_array_equal(embedding, features)
    assert np.shares_memory(embedding, features)  # the array the decoder reads, as official
    predictor.reset_image()
    assert (predictor.is_image_set, predictor.original_size, predictor.features, predictor.image_embedding) == (
        False,
        None,
        None,
        None,
    )


# set_image(image, image_format)


def test_bgr_array_gives_the_embedding_of_the_rgb_image(scene_rgb):
    predictor = SamPredictor("nano", threads=2)
    rgb = predictor.set_image(scene_rgb)
    bgr = np.ascontiguousarray(scene_rgb[..., ::-1])
    assert predictor.set_image(bgr, image_format="BGR") is rgb  # channels reversed: the same image, a cache hit
    predictor.cache = type(predictor.cache)(0)
    encoded = predictor.set_image(bgr, image_format="BGR")
    np.testing.assert_array_equal(encoded.embeddings, rgb.embeddings)
    as_rgb = predictor.set_image(bgr)  # the same pixels read as RGB are another image
    assert not np.allclose(as_rgb.embeddings, rgb.embeddings, atol=1e-3)


@pytest.mark.parametrize("image_format", ["bgr", "RGBA", "", None])
def test_unknown_image_format(nano, scene_rgb, image_format):
    error = expect_error(InvalidInputError, "", lambda: nano.set_image(scene_rgb, image_format=image_format))
    assert str(error) == f"image_format must be 'RGB' or 'BGR' (the channel order of the array); got {image_format!r}"


def test_bgr_is_refused_for_a_file_or_pil_image(nano):
    error = expect_error(InvalidInputError, "", lambda: nano.set_image(SCENE, image_format="BGR"))
    assert str(error) == (
        "image_format='BGR' is for arrays (e.g. from cv2.imread); a PosixPath is decoded as RGB: "
        "pass image_format='RGB'"
    )
    with Image.open(SCENE) as pil_image:
        expect_error(InvalidInputError, "is decoded as RGB", lambda: nano.set_image(pil_image, image_format="BGR"))
    assert nano.original_size == (480, 640)


# point_labels shapes


@pytest.mark.parametrize(
    "coords, labels, shapes",
    [
        ([[208, 185]], [1], [[[1]], np.array([[1.0]])]),
        ([[208, 185], [380, 250]], [1, 0], [[[1], [0]], [[1, 0]]]),
    ],
    ids=["one point", "two points"],
)
def test_point_labels_as_column_or_row_give_the_same_masks(nano, coords, labels, shapes):
    expected = nano.predict(coords, labels)
    for shaped in shapes:
        assert_same(nano.predict(point_coords=coords, point_labels=shaped), expected)


def test_point_labels_that_do_not_fit_the_points(nano):
    error = expect_error(InvalidInputError, "", lambda: nano.predict([[208, 185], [380, 250]], [[1], [0], [1]]))
    assert str(error) == "point_labels must be shaped (2,), (2, 1) or (1, 2) to match point_coords; got (3, 1)"
    expect_error(InvalidInputError, "got (2, 2)", lambda: nano.predict([[208, 185], [380, 250]], [[1, 0], [1, 0]]))


# Where the model comes from


def test_no_model_a_bundled_name_and_its_directory_open_the_same_graphs():
    predictors = [
        SamPredictor(threads=2),
        SamPredictor("nano", threads=2),
        SamPredictor(NANO, threads=2),
        SamPredictor(str(NANO), threads=2),
        SamPredictor(Path("nano"), threads=2),
    ]  # a Path, as from --model
    files = find_model_files(NANO)  # per part, the engine nano.backends.json recorded as faster
    assert {(p.decoder.path, p.encoder.path, p.metadata.model_id) for p in predictors} == {
        (files.decoder_prompt, files.encoder, predictors[0].metadata.model_id)
    }


def test_unknown_model_name():
    error = expect_error(ModelFileError, "", lambda: SamPredictor("vit_q", threads=2))
    assert str(error) == (
        "model 'vit_q' does not exist: it is neither a directory nor a bundled model (bundled: nano); "
        "pass a directory written by `sam-edge export`, a bundled model name, or encoder= / decoder= graph files"
    )


def test_a_graph_file_or_a_torch_model_is_not_a_model():
    graph = NANO / "nano.encoder.fp32.onnx"
    error = expect_error(ModelFileError, "", lambda: SamPredictor(graph, threads=2))
    assert str(error) == (
        f"model '{graph}' is a file, not a model directory; pass its directory, "
        "or the graph itself as encoder= / decoder="
    )

    class Sam:  # what sam_model_registry returns
        pass

    expect_error(
        InvalidInputError,
        "got Sam (a PyTorch SAM model is exported first: `sam-edge export",
        lambda: SamPredictor(Sam(), threads=2),
    )


# Graphs of the wrong part are refused at construction

SPLIT_HINT = (
    "a split decoder opens from its model directory: SamPredictor(DIR) or SamPredictor(DIR, with_encoder=False)"
)


@pytest.mark.parametrize(
    "keyword, graph, message",
    [
        (
            "decoder",
            "nano.decoder_prompt.fp32.onnx",
            "decoder=nano.decoder_prompt.fp32.onnx is a decoder_prompt graph (the prompt stage of a split "
            "decoder); decoder= accepts "
            f"a full decoder graph (<model>.decoder.<precision>.onnx or .xml); {SPLIT_HINT}",
        ),
        (
            "decoder",
            "nano.decoder_image.fp32.xml",
            "decoder=nano.decoder_image.fp32.xml is a decoder_image graph (the image stage of a split decoder); "
            "decoder= accepts "
            f"a full decoder graph (<model>.decoder.<precision>.onnx or .xml); {SPLIT_HINT}",
        ),
        (
            "decoder",
            "nano.encoder.fp32.onnx",
            "decoder=nano.encoder.fp32.onnx is an encoder graph; decoder= accepts a full decoder graph "
            "(<model>.decoder.<precision>.onnx or .xml); pass it as encoder=",
        ),
        (
            "encoder",
            "nano.decoder_prompt.fp32.onnx",
            "encoder=nano.decoder_prompt.fp32.onnx is a decoder_prompt graph (the prompt stage of a split "
            "decoder); encoder= accepts "
            f"an encoder graph (<model>.encoder.<precision>.onnx or .xml); {SPLIT_HINT}",
        ),
    ],
    ids=["prompt stage as decoder", "image stage as decoder", "encoder as decoder", "prompt stage as encoder"],
)
def test_graph_of_another_part_is_refused_at_construction(keyword, graph, message):
    model = "nano" if keyword == "encoder" else None  # an encoder alone is no predictor: nano gives the decoder
    error = expect_error(InvalidInputError, "", lambda: SamPredictor(model, **{keyword: NANO / graph}, threads=2))
    assert str(error) == message


def test_renamed_graph_in_a_model_directory_is_refused(tmp_path):
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for part in ("encoder", "decoder_image"):
        shutil.copy(NANO / f"nano.{part}.fp32.onnx", renamed)
    shutil.copy(NANO / "nano.decoder_image.fp32.onnx", renamed / "nano.decoder_prompt.fp32.onnx")
    error = expect_error(ModelFileError, "", lambda: SamPredictor(renamed, threads=2))
    assert str(error) == (
        f"{renamed / 'nano.decoder_prompt.fp32.onnx'} is named as a decoder_prompt graph (the prompt stage "
        "of a split decoder) but its metadata says it is a decoder_image graph (the image stage of a split "
        "decoder); re-export the model with `sam-edge export`"
    )


# Decoding embeddings made elsewhere: a model directory opened without its encoder


def test_bundled_model_without_its_encoder_decodes_a_saved_embedding(nano, tmp_path):
    path = nano.image_embedding.save(tmp_path / "scene.npz")
    decoder_only = SamPredictor("nano", with_encoder=False, threads=2)
    assert decoder_only.encoder is None and decoder_only.decoder.layout == "split"
    error = expect_error(ModelFileError, "", lambda: decoder_only.set_image(SCENE))
    assert str(error) == (
        "this predictor has no encoder graph (opened with with_encoder=False or decoder= only); "
        "give it an embedding with set_image_embedding(ImageEmbedding.load(path))"
    )
    decoder_only.set_image_embedding(ImageEmbedding.load(path))
    assert decoder_only.original_size == (480, 640)
    for prompt in (
        dict(point_coords=RING[0], point_labels=RING[1]),
        dict(box=[255, 60, 510, 330], multimask_output=False),
    ):
        assert_same(decoder_only.predict(**prompt), nano.predict(**prompt))


def test_directory_holding_only_the_decoder_graphs(nano, tmp_path):
    copy = shutil.copytree(NANO, tmp_path / "decoder-only", ignore=shutil.ignore_patterns("*.encoder.*"))
    expect_error(ModelFileError, "has no fp32 encoder graph", lambda: SamPredictor(copy, threads=2))
    decoder_only = SamPredictor(copy, with_encoder=False, threads=2)
    decoder_only.set_image_embedding(nano.image_embedding)
    assert_same(decoder_only.predict(*RING), nano.predict(*RING))
    encoder = NANO / "nano.encoder.fp32.onnx"
    with_explicit_encoder = SamPredictor(copy, encoder=encoder, threads=2)  # the directory's decoder, this encoder
    assert with_explicit_encoder.encoder.path == encoder
    error = expect_error(
        InvalidInputError, "", lambda: SamPredictor(copy, encoder=encoder, with_encoder=False, threads=2)
    )
    assert str(error) == "with_encoder=False opens no encoder, yet encoder= was given; pass one of the two"


def test_set_image_embedding_takes_an_image_embedding(nano):
    error = expect_error(InvalidInputError, "", lambda: nano.set_image_embedding(nano.features))
    assert str(error) == (
        "set_image_embedding takes an ImageEmbedding (predictor.image_embedding or "
        "ImageEmbedding.load(path)); got ndarray"
    )


# The torch-tensor calls


def test_predict_torch_and_set_torch_image_name_their_numpy_equivalents(nano):
    error = expect_error(
        UnsupportedError, "call predict_batch with numpy arrays", lambda: nano.predict_torch(None, None)
    )
    assert isinstance(error, NotImplementedError)
    expect_error(
        UnsupportedError, "call set_image with the image itself", lambda: nano.set_torch_image(None, (480, 640))
    )
