"""What the SamPredictor tests share: the sample image, tolerances and the checks they assert with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mask_policy import assert_masks_agree

from sam_edge.runtime.errors import SamEdgeError
from sam_edge.runtime.predictor import SamPredictor

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample.png"  # 640x480 RGB
ATOL = 1e-4
POINT = ([[360, 265]], [1])


def decoder_path(model_dir: Path) -> Path:
    return next(model_dir.glob("*.decoder.fp32.onnx"))


def assert_same_prediction(got, expected) -> None:
    """Two predictions made with return_logits=True agree: scores and logits within ATOL, masks except at ~0."""
    np.testing.assert_allclose(got.scores, expected.scores, atol=ATOL)
    np.testing.assert_allclose(got.low_res_logits, expected.low_res_logits, atol=ATOL)
    np.testing.assert_allclose(got.masks, expected.masks, atol=ATOL)
    assert_masks_agree(got.masks > 0, expected.masks > 0, expected.masks)


def count_encoder_runs(predictor: SamPredictor) -> list[int]:
    """Wrap the encoder backend's run(); the returned list's length is the number of encoder runs."""
    calls, run = [], predictor.encoder.run

    def counting_run(output_names, feeds):
        calls.append(1)
        return run(output_names, feeds)

    predictor.encoder.run = counting_run
    return calls


def expect_error(error_class, words: str, call) -> SamEdgeError:
    """``call()`` raises ``error_class`` (a SamEdgeError, never a raw numpy/onnxruntime error) naming ``words``."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - anything else must fail the test with its type
        assert isinstance(error, SamEdgeError), f"raw {type(error).__module__}.{type(error).__name__}: {error}"
        assert isinstance(error, error_class), f"{type(error).__name__}: {error}"
        assert words in str(error), f"{words!r} not in: {error}"
        return error
    pytest.fail(f"no error raised; expected {error_class.__name__}")
