"""MaskTrack with the bundled model on frames of a moving object (tests/moving_scene.py): what a step feeds,
how well the mask follows, frame-size changes, a lost mask and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from moving_scene import edge_box, iou, moving_frame, sample_scene_and_object
from predictor_checks import expect_error

from sam_edge.runtime.errors import InvalidInputError, NoImageSetError
from sam_edge.runtime.mask_tracking import MaskTrack, TrackNotStartedError
from sam_edge.runtime.predictor import SamPredictor

STEP = (-4, -2)  # the object moves 4 px left and 2 px up per frame (it is 69x64 px)
FRAMES = 4


@pytest.fixture(scope="module")
def predictor() -> SamPredictor:
    return SamPredictor(threads=2)


@pytest.fixture(scope="module")
def embeddings(predictor):
    """(embedding, ground-truth mask) of frames 0..FRAMES-1, encoded once for the module."""
    frames = [moving_frame(index, STEP) for index in range(FRAMES)]
    return [(predictor.encode(image), mask) for image, mask in frames]


def track_ious(predictor, embeddings, carry_logits: bool) -> list[float]:
    """IoU with the moved ground truth of the start mask (box of the true mask) and of each step."""
    track = MaskTrack(predictor, carry_logits=carry_logits)
    ious = []
    for index, (embedding, truth) in enumerate(embeddings):
        predictor.set_image_embedding(embedding)
        result = track.start(box=edge_box(truth)) if index == 0 else track.step()
        ious.append(iou(result.masks[0], truth))
    return ious


def test_carrying_the_box_follows_the_moving_object_and_the_logits_hold_it_back(predictor, embeddings):
    # measured with the bundled model: box only 0.89, 0.91, 0.92, 0.90; box + logits 0.89, 0.84, 0.74, 0.65
    # (the logits are the mask where the object WAS, pixel for pixel)
    box_only = track_ious(predictor, embeddings, carry_logits=False)
    with_logits = track_ious(predictor, embeddings, carry_logits=True)
    assert min(box_only) > 0.8, box_only
    assert with_logits[1] > 0.75 and with_logits[-1] > 0.55, with_logits
    assert with_logits[-1] < box_only[-1] - 0.1


def test_start_keeps_the_best_of_three_and_its_box(predictor, embeddings):
    predictor.set_image_embedding(embeddings[0][0])
    track = MaskTrack(predictor)
    result = track.start(point=(590, 423))
    candidates = predictor.predict([[590, 423]], [1], multimask_output=True)
    best = int(np.argmax(candidates.scores))
    assert result.masks.shape == (1, 480, 640) and result.low_res_logits.shape == (1, 256, 256)
    np.testing.assert_array_equal(result.masks[0], candidates.masks[best])
    assert result.scores[0] == candidates.scores[best]
    assert track.active and track.box.tolist() == edge_box(result.masks[0])


@pytest.mark.parametrize("anchor", [None, (580, 418)])
def test_step_feeds_exactly_the_previous_box_and_logits(predictor, embeddings, anchor):
    predictor.set_image_embedding(embeddings[0][0])
    track = MaskTrack(predictor)
    previous = track.start(box=edge_box(embeddings[0][1]))
    box = track.box
    predictor.set_image_embedding(embeddings[1][0])
    result = track.step(anchor)
    coords, labels = (None, None) if anchor is None else ([anchor], [1])
    direct = predictor.predict(coords, labels, box, previous.low_res_logits, multimask_output=False)
    np.testing.assert_array_equal(result.masks, direct.masks)
    np.testing.assert_array_equal(result.low_res_logits, direct.low_res_logits)
    assert result.scores.tolist() == direct.scores.tolist()
    assert track.box.tolist() == edge_box(result.masks[0])


def test_a_frame_of_another_size_rescales_the_box(predictor, embeddings):
    image, truth = sample_scene_and_object()
    predictor.set_image_embedding(embeddings[0][0])
    track = MaskTrack(predictor)
    previous = track.start(box=edge_box(truth))
    box = track.box
    # Same aspect ratio (320x240): the same 1024x768 input frame, so the logits are carried.
    predictor.set_image(image[::2, ::2])
    half = track.step()
    direct = predictor.predict(box=box / 2, mask_input=previous.low_res_logits, multimask_output=False)
    np.testing.assert_array_equal(half.masks, direct.masks)
    assert half.masks.shape == (1, 240, 320) and iou(half.masks[0], truth[::2, ::2]) > 0.8
    # Another aspect ratio (the left 480x480): the box is rescaled, the logits are not fed.
    box = track.box
    predictor.set_image(image[:, :480])
    square = track.step()
    direct = predictor.predict(box=box * [1.5, 2, 1.5, 2], multimask_output=False)
    np.testing.assert_array_equal(square.masks, direct.masks)


def test_an_empty_mask_ends_the_track(predictor):
    red = np.zeros((120, 160, 3), np.uint8)
    red[..., 0] = 255
    predictor.set_image(red)
    track = MaskTrack(predictor, carry_logits=False)
    assert track.start(box=[0, 0, 160, 120]).masks[0].sum() > 1000  # measured: 1906 of the 19200 pixels
    predictor.set_image(np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8))
    assert track.step() is None  # measured: on this noise frame the carried box's mask is empty (max logit -0.08)
    assert not track.active and track.box is None
    expect_error(TrackNotStartedError, "no mask is being tracked (never started, stopped, or lost)", track.step)


def test_stop_ends_the_track(predictor, embeddings):
    predictor.set_image_embedding(embeddings[0][0])
    track = MaskTrack(predictor)
    track.start(point=(590, 423))
    track.stop()
    assert not track.active
    expect_error(TrackNotStartedError, "call start(point=(x, y)) or start(box=(x0, y0, x1, y1)) first", track.step)


def test_bad_input_raises_one_line_errors(predictor, embeddings):
    predictor.set_image_embedding(embeddings[0][0])
    track = MaskTrack(predictor)
    expect_error(
        InvalidInputError,
        "start takes exactly one prompt: point=(x, y) or box=(x0, y0, x1, y1); got both",
        lambda: track.start(point=(5, 5), box=[0, 0, 9, 9]),
    )
    expect_error(InvalidInputError, "; got neither", track.start)
    expect_error(
        InvalidInputError,
        "label belongs to a point prompt (1 or 0); a box takes none, got label=0",
        lambda: track.start(box=[0, 0, 9, 9], label=0),
    )
    expect_error(
        InvalidInputError,
        "point_coords lie outside the image: accepted 0 <= x <= 640, 0 <= y <= 480",
        lambda: track.start(point=(700, 5)),
    )
    expect_error(
        InvalidInputError,
        "point_labels must be 1 (foreground) or 0 (background)",
        lambda: track.start(point=(5, 5), label=2),
    )
    track.start(point=(590, 423))
    expect_error(InvalidInputError, "point_coords lie outside the image", lambda: track.step((-1, 5)))
    expect_error(InvalidInputError, "point_coords lie outside the image", lambda: track.start(point=(700, 5)))
    assert track.active  # a refused anchor or start leaves the track as it was
    expect_error(InvalidInputError, "MaskTrack takes a SamPredictor; got str", lambda: MaskTrack("nano"))
    expect_error(
        InvalidInputError, "carry_logits must be True or False; got 1", lambda: MaskTrack(predictor, carry_logits=1)
    )


def test_no_image_set_is_the_predictors_error(embeddings):
    decoder_only = SamPredictor(with_encoder=False, threads=2)
    track = MaskTrack(decoder_only)
    expect_error(NoImageSetError, "no image set: call set_image(image)", lambda: track.start(point=(5, 5)))
    decoder_only.set_image_embedding(embeddings[0][0])
    track.start(point=(590, 423))
    decoder_only.reset_image()
    expect_error(NoImageSetError, "no image set: call set_image(image)", track.step)
