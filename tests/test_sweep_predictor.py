"""Property sweep of SamPredictor: any prompt, mask input, mask size, image array or hand-made embedding
gives a well-formed result or a one-line SamEdgeError, never another exception (tests/sweep_strategies.py).

A tiny model of the real classes (ViT encoder and SAM decoder at width 16) keeps 500 examples per
property within seconds; the validation under test does not depend on the model's size.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sweep_strategies import REFUSED, SWEEP, any_array, filled_arrays, image_arrays, prompts, returns_or_refuses

from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.image_io import load_image
from sam_edge.runtime.predictor import SamPredictor
from sam_edge.runtime.transforms import preprocess_shape

IMAGE_HW = (24, 32)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    pytest.importorskip("torch")
    from sam_edge.export.api import export_model, load_model
    from sam_edge.export.specs import DecoderSpec, ModelSpec, ViTSpec

    spec = ModelSpec(
        "sweep_tiny",
        ViTSpec(16, 1, 1, ()),  # windowed attention only: the cheapest encoder
        DecoderSpec(
            transformer_dim=16,
            transformer_depth=1,
            transformer_heads=1,
            transformer_mlp_dim=16,
            iou_head_hidden_dim=16,
            mask_in_chans=4,
        ),
    )
    out_dir = tmp_path_factory.mktemp("sweep_model")
    export_model(
        load_model(model_type=spec, random_seed=3), out_dir, "onnx", progress=lambda message: None, time_backends=False
    )
    return out_dir


@pytest.fixture(scope="module")
def predictor(tiny_model_dir):
    """A predictor with a 30x40 image set; the properties only read it."""
    predictor = SamPredictor(tiny_model_dir, threads=1, cache_size=0)
    predictor.set_image(np.random.default_rng(0).integers(0, 256, IMAGE_HW + (3,), dtype=np.uint8))
    return predictor


@pytest.fixture(scope="module")
def spare_predictor(tiny_model_dir):
    """A second predictor whose image the properties may change."""
    return SamPredictor(tiny_model_dir, threads=1, cache_size=0)


def check_prediction(result, lead: tuple[int, ...], kwargs: dict, frame_hw: tuple[int, int]) -> None:
    """masks [*lead, C, H, W] bool (float32 logits), scores [*lead, C] float32, logits [*lead, C, 256, 256]."""
    masks_per_prompt = 3 if kwargs["multimask_output"] else 1
    mask_size = kwargs["mask_size"]
    frame = frame_hw if mask_size is None else tuple(int(side) for side in mask_size)
    shape = lead + (masks_per_prompt,)
    assert result.scores.shape == shape and result.scores.dtype == np.float32
    assert result.low_res_logits.shape == shape + (256, 256) and result.low_res_logits.dtype == np.float32
    assert result.masks.shape == shape + frame
    assert result.masks.dtype == (np.float32 if kwargs["return_logits"] else np.bool_)
    assert np.isfinite(result.scores).all() and np.isfinite(result.low_res_logits).all()


@SWEEP
@given(kwargs=prompts(IMAGE_HW, batched=False))
def test_predict_returns_or_refuses_any_prompt(predictor, kwargs):
    result = returns_or_refuses(predictor.predict, **kwargs)
    if result is not REFUSED:
        check_prediction(result, (), kwargs, IMAGE_HW)


@SWEEP
@given(kwargs=prompts(IMAGE_HW, batched=True))
def test_predict_batch_returns_or_refuses_any_prompts(predictor, kwargs):
    result = returns_or_refuses(predictor.predict_batch, **kwargs)
    if result is not REFUSED:
        assert result.scores.ndim == 2 and result.scores.shape[0] >= 1
        check_prediction(result, result.scores.shape[:1], kwargs, IMAGE_HW)


@SWEEP
@given(image=image_arrays())
def test_set_image_returns_or_refuses_any_array(spare_predictor, image):
    embedding = returns_or_refuses(spare_predictor.set_image, image)
    if embedding is not REFUSED:
        height, width = load_image(image).shape[:2]
        meta = spare_predictor.metadata
        assert embedding.embeddings.shape == tuple(meta.embedding_shape) and embedding.embeddings.dtype == np.float32
        assert np.isfinite(embedding.embeddings).all()
        assert embedding.original_size == (height, width)
        assert embedding.input_size == preprocess_shape(height, width, meta.image_size)


def embedding_sizes() -> st.SearchStrategy[object]:
    """(H, W) of any length and element type, strings included, and non-sequences (None, numbers)."""
    side = st.integers(-2, 50) | st.floats(-2, 50) | st.text(max_size=2) | st.none()
    return (
        st.tuples(side, side) | st.lists(side, max_size=3).map(tuple) | st.text(max_size=3) | st.none() | st.integers()
    )


@st.composite
def hand_made_embeddings(draw, model_id: str, shape: tuple[int, ...]) -> ImageEmbedding:
    """Embeddings of the right or any shape, sizes that fit together or not, this model's id or another.

    Well-shaped arrays hold finite values or a NaN / inf among them.
    """
    array = draw(
        filled_arrays(shape, ["f4", "f8"], [0.0, 1.0, -2.5], st.floats(-3, 3) | st.sampled_from([np.nan, np.inf]))
        | any_array()
    )
    original = draw(embedding_sizes())
    fits = (
        isinstance(original, tuple)
        and len(original) == 2
        and all(type(side) is int and side > 0 for side in original)
        and draw(st.booleans())
    )
    input_size = preprocess_shape(*original, 1024) if fits else draw(embedding_sizes())
    model = draw(st.sampled_from([model_id, "vit_b-0123456789ab"]))
    return ImageEmbedding(array, original, input_size, model, "sweep_tiny")


@SWEEP
@given(data=st.data())
def test_set_image_embedding_returns_or_refuses_any_embedding(spare_predictor, data):
    meta = spare_predictor.metadata
    embedding = data.draw(hand_made_embeddings(meta.model_id, tuple(meta.embedding_shape)))
    if returns_or_refuses(spare_predictor.set_image_embedding, embedding) is REFUSED:
        return
    kwargs = {"multimask_output": True, "return_logits": False, "mask_size": None}
    result = returns_or_refuses(spare_predictor.predict, [[0, 0]], [1])
    if result is not REFUSED:
        check_prediction(result, (), kwargs, tuple(embedding.original_size))


def nan_embedding(meta) -> ImageEmbedding:
    return ImageEmbedding(
        np.full(tuple(meta.embedding_shape), np.nan, np.float32), (24, 32), (768, 1024), meta.model_id, meta.model_type
    )


def sized_embedding(meta, original_size, input_size) -> ImageEmbedding:
    return ImageEmbedding(
        np.zeros(tuple(meta.embedding_shape), np.float32), original_size, input_size, meta.model_id, meta.model_type
    )


@pytest.mark.parametrize(
    "case",
    [
        "mask_size inf",
        "mask_size 2-D array",
        "original_size None",
        "input_size None",
        "NaN embeddings",
    ],
)
def test_inputs_the_sweep_found_are_refused(predictor, spare_predictor, case):
    """Inputs the sweep found escaping as other exceptions or NaN scores, each now one SamEdgeError line."""
    meta = predictor.metadata
    calls = {
        "mask_size inf": lambda: predictor.predict([[1, 1]], [1], mask_size=(float("inf"), 3)),
        "mask_size 2-D array": lambda: predictor.predict([[1, 1]], [1], mask_size=np.array([[1.5, 2], [np.nan, 4]])),
        "original_size None": lambda: spare_predictor.set_image_embedding(sized_embedding(meta, None, (768, 1024))),
        "input_size None": lambda: spare_predictor.set_image_embedding(sized_embedding(meta, (24, 32), None)),
        "NaN embeddings": lambda: spare_predictor.set_image_embedding(nan_embedding(meta)),
    }
    assert returns_or_refuses(calls[case]) is REFUSED
