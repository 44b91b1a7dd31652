"""SamPredictor's embeddings (saved, loaded, refused when they do not belong) and its LRU cache, on the
exported vit_small graphs and the sample image."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from predictor_checks import POINT, SAMPLE, count_encoder_runs, decoder_path, expect_error

from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.errors import InputFileError, InvalidInputError, ModelFileError, ModelMismatchError
from sam_edge.runtime.predictor import SamPredictor

# Embeddings


def test_saved_embedding_decodes_without_an_encoder(predictor, model_dir, tmp_path):
    path = predictor.image_embedding.save(tmp_path / "sample.npz")
    decoder_only = SamPredictor(decoder=decoder_path(model_dir), threads=2)
    assert decoder_only.encoder is None
    expect_error(ModelFileError, "set_image_embedding", lambda: decoder_only.set_image(SAMPLE))
    loaded = ImageEmbedding.load(path)
    assert (loaded.original_size, loaded.input_size) == ((480, 640), (768, 1024))
    decoder_only.set_image_embedding(loaded)
    expected, got = predictor.predict(*POINT), decoder_only.predict(*POINT)
    np.testing.assert_array_equal(got.masks, expected.masks)
    np.testing.assert_allclose(got.scores, expected.scores, atol=1e-6)


def test_embedding_of_another_model_is_refused(predictor, other_model_dir):
    other = SamPredictor(other_model_dir, threads=2)
    other_embedding = other.set_image(np.zeros((48, 64, 3), np.uint8))
    error = expect_error(ModelMismatchError, "different models", lambda: predictor.set_image_embedding(other_embedding))
    assert other.metadata.model_id in str(error) and predictor.metadata.model_id in str(error)
    assert predictor.image_embedding.original_size == (480, 640)  # the sample is still set


def test_encoder_and_decoder_of_different_models_are_refused(model_dir, other_model_dir):
    encoder = next(model_dir.glob("*.encoder.fp32.onnx"))
    expect_error(
        ModelMismatchError,
        "different models",
        lambda: SamPredictor(encoder=encoder, decoder=decoder_path(other_model_dir), threads=2),
    )


def test_embedding_that_does_not_fit_the_decoder_is_refused(predictor):
    embedding = predictor.image_embedding
    small = dataclasses.replace(embedding, embeddings=embedding.embeddings[:, :, :32, :32].copy())
    expect_error(InvalidInputError, "float32 [1, 256, 64, 64]", lambda: predictor.set_image_embedding(small))
    wrong_frame = dataclasses.replace(embedding, original_size=(480, 480))
    expect_error(InvalidInputError, "input_size", lambda: predictor.set_image_embedding(wrong_frame))
    assert predictor.image_embedding is embedding


def write_truncated(path: Path, embedding: ImageEmbedding) -> None:
    embedding.save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def write_npy(path: Path, embedding: ImageEmbedding) -> None:
    with open(path, "wb") as handle:
        np.save(handle, embedding.embeddings)


def write_without_model_id(path: Path, embedding: ImageEmbedding) -> None:
    np.savez(
        path, embeddings=embedding.embeddings, original_size=np.array([480, 640]), input_size=np.array([768, 1024])
    )


def write_one_sided_size(path: Path, embedding: ImageEmbedding) -> None:
    np.savez(
        path,
        embeddings=embedding.embeddings,
        original_size=np.array([480]),
        input_size=np.array([768, 1024]),
        model_id=np.str_(embedding.model_id),
        model_type=np.str_(embedding.model_type),
    )


@pytest.mark.parametrize(
    "write, error_class, words",
    [
        (None, InputFileError, "does not exist"),
        (write_truncated, InvalidInputError, "not a sam-edge embedding"),
        (lambda path, embedding: path.write_bytes(b"not an npz"), InvalidInputError, "not a sam-edge embedding"),
        (write_npy, InvalidInputError, "not an .npz archive"),
        (write_without_model_id, InvalidInputError, "lacks model_id, model_type"),
        (write_one_sided_size, InvalidInputError, "original_size must be two positive integers"),
    ],
    ids=["missing", "truncated", "garbage", "npy", "no-model-id", "bad-size"],
)
def test_bad_embedding_files(predictor, tmp_path, write, error_class, words):
    path = tmp_path / "embedding.npz"
    if write is not None:
        write(path, predictor.image_embedding)
    expect_error(error_class, words, lambda: ImageEmbedding.load(path))


# Cache


def test_same_image_runs_the_encoder_once(model_dir, sample_rgb):
    predictor = SamPredictor(model_dir, threads=2, cache_size=4)
    runs = count_encoder_runs(predictor)
    first = predictor.set_image(sample_rgb)
    assert predictor.set_image(sample_rgb.copy()) is first and len(runs) == 1
    flipped = predictor.set_image(np.ascontiguousarray(sample_rgb[::-1]))
    assert len(runs) == 2 and not np.array_equal(flipped.embeddings, first.embeddings)
    assert predictor.set_image(sample_rgb) is first and len(runs) == 2


def test_cache_capacity_one_evicts_the_older_image(model_dir, sample_rgb):
    predictor = SamPredictor(model_dir, threads=2, cache_size=1)
    runs = count_encoder_runs(predictor)
    for image in (sample_rgb, sample_rgb[::-1], sample_rgb):
        predictor.set_image(np.ascontiguousarray(image))
    assert len(runs) == 3 and len(predictor.cache) == 1


def test_path_pil_image_and_array_share_one_cache_entry(model_dir, sample_rgb):
    predictor = SamPredictor(model_dir, threads=2)
    runs = count_encoder_runs(predictor)
    with Image.open(SAMPLE) as pil_image:
        embeddings = [predictor.set_image(image) for image in (SAMPLE, str(SAMPLE), pil_image, sample_rgb)]
    assert len(runs) == 1 and len(predictor.cache) == 1
    assert all(embedding is embeddings[0] for embedding in embeddings)
