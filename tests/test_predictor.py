"""SamPredictor on exported vit_small graphs: batching, outputs, backends, decoder layouts and bad input
(embeddings and the cache: test_embedding_cache.py; engine settings: test_engine_settings.py).

Parity with the official predictor is in test_runtime_parity.py; these tests check the runtime's own
contracts (README, docs/sam-users.md) on the sample image.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from mask_policy import assert_masks_agree
from PIL import Image
from predictor_checks import POINT, SAMPLE, assert_same_prediction, decoder_path, expect_error

from sam_edge.runtime.errors import InvalidInputError, ModelFileError, NoImageSetError
from sam_edge.runtime.predictor import SamPredictor
from sam_edge.runtime.transforms import mask_upscale_matrices


def batch_item(batch, index: int):
    return batch.prompt(index)


# predict_batch: B prompts in one call == B calls

BOXES = np.array([[300, 200, 420, 330], [50, 60, 250, 300], [400, 100, 639, 479]], np.float32)
POINT_SETS = np.array([[[360, 265], [100, 100]], [[200, 300], [500, 400]], [[50, 50], [600, 50]]], np.float32)
POINT_LABELS = np.array([[1, 0], [1, 1], [1, 0]], np.float32)


def test_batch_of_boxes_equals_one_call_per_box(predictor):
    batch = predictor.predict_batch(boxes=BOXES, return_logits=True)
    assert batch.masks.shape == (3, 3, 480, 640)
    for index, box in enumerate(BOXES):
        assert_same_prediction(batch_item(batch, index), predictor.predict(box=box, return_logits=True))


def test_batch_of_point_sets_equals_one_call_per_set(predictor):
    batch = predictor.predict_batch(POINT_SETS, POINT_LABELS, multimask_output=False, return_logits=True)
    assert batch.scores.shape == (3, 1)
    for index in range(3):
        single = predictor.predict(POINT_SETS[index], POINT_LABELS[index], multimask_output=False, return_logits=True)
        assert_same_prediction(batch_item(batch, index), single)


def test_a_large_batch_runs_the_decoder_a_few_prompts_at_a_time_to_the_same_masks(predictor, monkeypatch):
    from sam_edge.runtime import decoders

    points = np.random.default_rng(5).uniform((0, 0), (639, 479), (9, 1, 2)).astype(np.float32)
    labels, runs, decode = np.ones((9, 1), np.float32), [], predictor.decoder.decode

    def counting_decode(embedding, feeds):
        runs.append(feeds.prompts)
        return decode(embedding, feeds)

    monkeypatch.setattr(predictor.decoder, "decode", counting_decode)
    batch = predictor.predict_batch(points, labels, return_logits=True)
    assert runs == [4, 4, 1] and batch.scores.shape == (9, 3) and batch.masks.shape == (9, 3, 480, 640)
    monkeypatch.setattr(decoders, "PROMPTS_PER_RUN", 9)
    one_run = predictor.predict_batch(points, labels, return_logits=True)
    assert runs == [4, 4, 1, 9]
    for index in range(9):
        assert_same_prediction(batch_item(batch, index), batch_item(one_run, index))


def test_batch_of_boxes_with_points(predictor):
    batch = predictor.predict_batch(
        POINT_SETS[:2, :1], POINT_LABELS[:2, :1], BOXES[:2], multimask_output=False, return_logits=True
    )
    for index in range(2):
        single = predictor.predict(
            POINT_SETS[index, :1], POINT_LABELS[index, :1], BOXES[index], multimask_output=False, return_logits=True
        )
        assert_same_prediction(batch_item(batch, index), single)
    # the point really is part of the prompt: a box alone decodes differently
    box_only = predictor.predict(box=BOXES[0], multimask_output=False, return_logits=True)
    assert not np.allclose(box_only.low_res_logits, batch.low_res_logits[0], atol=1e-2)


def test_one_mask_input_is_broadcast_over_the_batch(predictor):
    previous = predictor.predict(*POINT, multimask_output=False).low_res_logits  # [1, 256, 256]
    batch = predictor.predict_batch(boxes=BOXES[:2], mask_input=previous, multimask_output=False, return_logits=True)
    for index in range(2):
        single = predictor.predict(box=BOXES[index], mask_input=previous, multimask_output=False, return_logits=True)
        assert_same_prediction(batch_item(batch, index), single)


# Outputs


def test_multimask_gives_three_masks_single_gives_one(predictor):
    multi = predictor.predict(*POINT, multimask_output=True)
    single = predictor.predict(*POINT, multimask_output=False)
    assert (multi.masks.shape, multi.scores.shape, multi.low_res_logits.shape) == ((3, 480, 640), (3,), (3, 256, 256))
    assert (single.masks.shape, single.scores.shape, single.low_res_logits.shape) == (
        (1, 480, 640),
        (1,),
        (1, 256, 256),
    )
    assert (
        multi.masks.dtype == np.bool_ and multi.scores.dtype == np.float32 and multi.low_res_logits.dtype == np.float32
    )
    # tokens 1..3 for multimask, token 0 for a single mask: different masks
    assert all(not np.array_equal(single.low_res_logits[0], logits) for logits in multi.low_res_logits)


def test_logits_threshold_to_the_masks_and_give_the_stability_scores(predictor):
    masks, scores, low_res = predictor.predict(*POINT)  # Prediction unpacks like SamPredictor's tuple
    with_logits = predictor.predict(*POINT, return_logits=True)
    logits = with_logits.masks
    assert logits.dtype == np.float32 and logits.shape == masks.shape
    np.testing.assert_array_equal(logits > 0, masks)
    np.testing.assert_array_equal(with_logits.scores, scores)
    stability = with_logits.stability_scores
    assert stability.shape == (3,) and stability.dtype == np.float32
    assert ((stability >= 0) & (stability <= 1)).all()
    expected = (logits > 1).sum(axis=(1, 2)) / np.maximum((logits > -1).sum(axis=(1, 2)), 1)
    np.testing.assert_allclose(stability, expected, atol=1e-6)


def test_stability_of_boolean_masks_is_computed_from_the_logits_on_demand(predictor):
    boolean = predictor.predict(*POINT)
    with_logits = predictor.predict(*POINT, return_logits=True)
    assert "stability_scores" not in vars(boolean)  # nothing computed until asked
    np.testing.assert_allclose(boolean.stability_scores, with_logits.stability_scores, atol=1e-6)


def test_masks_at_a_display_size(predictor):
    full = predictor.predict(*POINT, return_logits=True)
    small = predictor.predict(*POINT, mask_size=(240, 320))
    assert small.masks.shape == (3, 240, 320) and small.masks.dtype == np.bool_
    np.testing.assert_array_equal(small.low_res_logits, full.low_res_logits)
    # The crop of the 1024 frame resampled straight to the display size (dense reference maps).
    rows, cols = mask_upscale_matrices((240, 320), (768, 1024))
    expected = rows @ full.low_res_logits @ cols.T
    decided = np.abs(expected) > 1e-4
    np.testing.assert_array_equal(small.masks[decided], (expected > 0)[decided])
    with pytest.raises(InvalidInputError, match="mask_size must be"):
        predictor.predict(*POINT, mask_size=240)


def test_low_res_logits_feed_back_as_mask_input(predictor):
    first = predictor.predict(*POINT)
    best = int(np.argmax(first.scores))
    refined = predictor.predict(*POINT, mask_input=first.low_res_logits[best][None], multimask_output=False)
    plain = predictor.predict(*POINT, multimask_output=False)
    assert refined.masks.shape == (1, 480, 640) and np.isfinite(refined.low_res_logits).all()
    assert not np.allclose(refined.low_res_logits, plain.low_res_logits, atol=1e-2), "mask_input was ignored"


# Backends


def test_openvino_gives_the_masks_of_onnxruntime(model_dir, sample_rgb, predictor):
    openvino = SamPredictor(model_dir, backend="openvino", threads=2)
    assert openvino.decoder.path.suffix == ".xml"
    openvino.set_image(sample_rgb)
    prompts = [
        dict(point_coords=[[360, 265]], point_labels=[1]),
        dict(box=BOXES[0]),
        dict(point_coords=[[200, 300], [500, 400]], point_labels=[1, 0]),
        dict(point_coords=[[350, 260]], point_labels=[1], box=BOXES[0]),
    ]
    for prompt in prompts:
        expected, got = predictor.predict(**prompt, return_logits=True), openvino.predict(**prompt, return_logits=True)
        np.testing.assert_allclose(got.scores, expected.scores, atol=1e-4, err_msg=str(prompt))
        np.testing.assert_allclose(got.low_res_logits, expected.low_res_logits, atol=1e-3, err_msg=str(prompt))
        assert_masks_agree(got.masks > 0, expected.masks > 0, expected.masks, str(prompt))


# Bad input: one family of errors whose messages say what is accepted

BAD_PROMPTS = {
    "point outside": (dict(point_coords=[[641, 10]], point_labels=[1]), "0 <= x <= 640"),
    "negative point": (dict(point_coords=[[10, -1]], point_labels=[1]), "0 <= y <= 480"),
    "nan point": (dict(point_coords=[[np.nan, 10]], point_labels=[1]), "NaN or inf"),
    "inf point": (dict(point_coords=[[10, np.inf]], point_labels=[1]), "NaN or inf"),
    "label 2": (dict(point_coords=[[10, 10]], point_labels=[2]), "1 (foreground) or 0 (background)"),
    "label -1": (dict(point_coords=[[10, 10]], point_labels=[-1]), "1 (foreground) or 0 (background)"),
    "box x1 < x0": (dict(box=[300, 100, 200, 200]), "x1 >= x0"),
    "box y1 < y0": (dict(box=[100, 300, 200, 200]), "y1 >= y0"),
    "box outside": (dict(box=[100, 100, 700, 200]), "0 <= x <= 640"),
    "empty prompt": (dict(), "empty prompt"),
    "mask only": (dict(mask_input=np.zeros((1, 256, 256), np.float32)), "empty prompt"),
    "coords [N, 3]": (dict(point_coords=[[10, 10, 1]], point_labels=[1]), "[N, 2]"),
    "no points": (dict(point_coords=np.zeros((0, 2)), point_labels=np.zeros(0)), "N >= 1"),
    "labels length": (dict(point_coords=[[10, 10], [20, 20]], point_labels=[1]), "to match point_coords"),
    "labels missing": (dict(point_coords=[[10, 10]]), "point_labels must be given"),
    "text coords": (dict(point_coords="10,10", point_labels=[1]), "real numbers"),
    "complex coords": (dict(point_coords=np.array([[10 + 1j, 10]]), point_labels=[1]), "real numbers"),
    "mask 128": (dict(point_coords=[[10, 10]], point_labels=[1], mask_input=np.zeros((1, 128, 128))), "[1, 256, 256]"),
    "two masks": (
        dict(point_coords=[[10, 10]], point_labels=[1], mask_input=np.zeros((2, 1, 256, 256))),
        "holds 2 masks for 1 prompt(s); give 1",
    ),
    "two boxes": (dict(box=BOXES[:2]), "predict_batch"),
}


@pytest.mark.parametrize("name", BAD_PROMPTS)
def test_bad_prompt(predictor, name):
    prompt, words = BAD_PROMPTS[name]
    expect_error(InvalidInputError, words, lambda: predictor.predict(**prompt))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(point_coords=np.zeros((0, 1, 2)), point_labels=np.zeros((0, 1))), "B >= 1"),
        (dict(boxes=np.zeros((0, 4))), "B >= 1"),
        (dict(point_coords=POINT_SETS[:2], point_labels=POINT_LABELS[:2], boxes=BOXES), "different numbers of prompts"),
        (dict(point_coords=POINT_SETS[0], point_labels=POINT_LABELS[0]), "[B, N, 2]"),
    ],
    ids=["no point sets", "no boxes", "unequal B", "unbatched points"],
)
def test_bad_batch(predictor, kwargs, words):
    expect_error(InvalidInputError, words, lambda: predictor.predict_batch(**kwargs))


def test_predict_before_set_image(model_dir, predictor):
    fresh = SamPredictor(model_dir, threads=2)
    expect_error(NoImageSetError, "set_image", lambda: fresh.predict(*POINT))
    fresh.set_image_embedding(predictor.image_embedding)
    fresh.reset_image()
    expect_error(NoImageSetError, "set_image", lambda: fresh.predict(*POINT))
    expect_error(NoImageSetError, "set_image", fresh.get_image_embedding)
    assert fresh.image_embedding is None


def test_model_dir_missing_its_decoder(model_dir, tmp_path):
    broken = shutil.copytree(model_dir, tmp_path / "broken")
    for graph in [decoder_path(broken), *broken.glob("*.decoder_prompt.fp32.onnx")]:
        graph.unlink()
    expect_error(ModelFileError, "missing the decoder graph", lambda: SamPredictor(broken, threads=2))


def test_split_and_full_decoder_give_the_same_predictions(model_dir, tmp_path):
    split = SamPredictor(model_dir, threads=2)
    full = SamPredictor(model_dir, threads=2, split_decoder=False)
    assert (split.decoder.layout, full.decoder.layout) == ("split", "full")
    for predictor in (split, full):
        predictor.set_image(SAMPLE)
    first = full.predict(*POINT, return_logits=True)
    mask_input = first.low_res_logits[int(np.argmax(first.scores))][None]
    prompts = [
        dict(point_coords=POINT[0], point_labels=POINT[1]),
        dict(box=[100, 120, 420, 400]),
        dict(point_coords=[[300, 200], [420, 330]], point_labels=[1, 0], box=[100, 120, 420, 400]),
        dict(point_coords=POINT[0], point_labels=POINT[1], mask_input=mask_input, multimask_output=False),
    ]
    for prompt in prompts:
        assert_same_prediction(split.predict(**prompt, return_logits=True), full.predict(**prompt, return_logits=True))
    boxes = np.array([[100, 120, 420, 400], [10, 10, 300, 200], [200, 50, 630, 470]], np.float32)
    assert_same_prediction(
        split.predict_batch(boxes=boxes, return_logits=True), full.predict_batch(boxes=boxes, return_logits=True)
    )


def test_split_only_model_dir(model_dir, tmp_path):
    split_only = shutil.copytree(model_dir, tmp_path / "split-only")
    decoder_path(split_only).unlink()
    predictor = SamPredictor(split_only, threads=2)
    assert predictor.decoder.layout == "split"
    expect_error(
        ModelFileError, "only the split decoder", lambda: SamPredictor(split_only, threads=2, split_decoder=False)
    )
    full_only = shutil.copytree(model_dir, tmp_path / "full-only")
    for graph in full_only.glob("*.decoder_image.*"):
        graph.unlink()
    expect_error(ModelFileError, "no split decoder", lambda: SamPredictor(full_only, threads=2, split_decoder=True))
    assert SamPredictor(full_only, threads=2).decoder.layout == "full"


def test_missing_model_dir(tmp_path):
    expect_error(ModelFileError, "does not exist", lambda: SamPredictor(tmp_path / "no-such-model", threads=2))


def test_image_above_the_pixel_limit(model_dir, sample_rgb):
    small_limit = SamPredictor(model_dir, threads=2, max_pixels=640 * 480 - 1)
    expect_error(InvalidInputError, "above the limit", lambda: small_limit.set_image(SAMPLE))
    expect_error(InvalidInputError, "above the limit", lambda: small_limit.set_image(sample_rgb))


def test_corrupt_image_file(predictor, tmp_path):
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(SAMPLE.read_bytes()[:2000])
    expect_error(InvalidInputError, "corrupt or truncated", lambda: predictor.set_image(truncated))
    text = tmp_path / "text.png"
    text.write_text("not an image")
    expect_error(InvalidInputError, "PNG, JPEG", lambda: predictor.set_image(text))
    assert predictor.original_size == (480, 640)


def test_image_stage_runs_once_per_image_while_it_is_current(model_dir):
    predictor = SamPredictor(model_dir, threads=2)
    calls, run = [], predictor.decoder.image_stage.run
    encodes, encode = [], predictor.encoder.run

    def counting_run(names, feeds):
        calls.append(len(feeds["has_mask_input"]))
        return run(names, feeds)

    def counting_encode(names, feeds):
        encodes.append(1)
        return encode(names, feeds)

    predictor.decoder.image_stage.run, predictor.encoder.run = counting_run, counting_encode
    flipped = np.asarray(Image.open(SAMPLE).convert("RGB"))[::-1].copy()  # another image
    masks, embeddings = [], []
    for image in (SAMPLE, flipped, SAMPLE, flipped):
        embeddings.append(predictor.set_image(image))
        masks.append(predictor.predict(*POINT).masks)
        predictor.predict(box=[100, 120, 420, 400])
    # Both embeddings stay in the LRU cache (two encodes), but only the current image keeps the
    # image stage's outputs: an image that comes back runs the image stage again, to the same masks.
    assert (len(encodes), calls) == (2, [1, 1, 1, 1])
    assert embeddings[2] is embeddings[0] and not embeddings[0].decoder_state and embeddings[1].decoder_state
    np.testing.assert_array_equal(masks[0], masks[2])
    np.testing.assert_array_equal(masks[1], masks[3])
    first = predictor.predict(*POINT)
    predictor.predict(*POINT, mask_input=first.low_res_logits[:1], multimask_output=False)
    assert calls == [1, 1, 1, 1, 1]  # a mask input changes the image tokens: the image stage runs for that prompt


def test_upscaling_maps_are_built_once_per_image_size(predictor):
    rgb = np.asarray(Image.open(SAMPLE).convert("RGB"))
    predictor.set_image(rgb)
    first = predictor.mask_upscaler()
    predictor.set_image(rgb[::-1].copy())  # another image of the same size: a video's next frame
    assert predictor.mask_upscaler() is first
    assert predictor.mask_upscaler((50, 60)) is not first and predictor.mask_upscaler((50, 60)).output_size == (50, 60)
    predictor.set_image(rgb[:200, :300].copy())  # another size: its own maps, in its own frame
    assert predictor.mask_upscaler().output_size == (200, 300)
    assert predictor.predict([[150, 100]], [1]).masks.shape[1:] == (200, 300)
