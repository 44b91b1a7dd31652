"""Prediction: segment_anything's (masks, scores, logits) tuple, with names."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sam_edge.runtime.prediction import Prediction


def make_prediction() -> Prediction:
    masks = np.zeros((3, 4, 5), bool)
    masks[1, :2] = True
    return Prediction(masks, np.array([0.1, 0.9, 0.5], np.float32), np.full((3, 256, 256), -2.0, np.float32))


def test_prediction_indexes_slices_and_unpacks_like_the_official_tuple():
    prediction = make_prediction()
    masks, scores, logits = prediction
    assert len(prediction) == 3
    assert prediction[0] is masks is prediction.masks and prediction[1] is scores is prediction.scores
    assert prediction[2] is logits is prediction.low_res_logits and prediction[-1] is logits and prediction[-3] is masks
    assert prediction[0:2] == (masks, scores) and prediction[::2] == (masks, logits)
    assert tuple(prediction) == (masks, scores, logits)
    assert int(np.argmax(prediction[1])) == 1
    with pytest.raises(IndexError):
        prediction[3]  # noqa: B018


def test_prediction_stays_a_frozen_dataclass_with_named_fields():
    prediction = make_prediction()
    assert dataclasses.is_dataclass(prediction)
    assert [field.name for field in dataclasses.fields(prediction)] == ["masks", "scores", "low_res_logits", "upscaler"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        prediction.masks = None
    with_logits = dataclasses.replace(prediction, masks=np.where(prediction.masks, 3.0, -3.0).astype(np.float32))
    np.testing.assert_array_equal(with_logits.stability_scores, np.array([0, 1, 0], np.float32))
    single = Prediction(prediction.masks[None], prediction.scores[None], prediction.low_res_logits[None]).prompt(0)
    np.testing.assert_array_equal(single.scores, prediction.scores)
