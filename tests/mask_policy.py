"""The one policy every test that compares masks follows, on any CPU.

Two float32 computations of the same function (our PyTorch vs the official code, onnxruntime vs
OpenVINO, AVX2 vs AVX-512 kernels) differ by rounding: ~1e-6..1e-4 in the logits. A thresholded mask
can therefore flip a pixel whose logit lies within ``LOGIT_BAND`` of the threshold (0), and nowhere
else. Counting flipped pixels or demanding an IoU would assume one CPU's rounding (a 60-pixel mask
with one flipped pixel has IoU 0.98), so the tests check the band instead, next to the logits
themselves (compared with an atol of their own).
"""

from __future__ import annotations

import numpy as np

LOGIT_BAND = 1e-3


def assert_masks_agree(masks: np.ndarray, expected: np.ndarray, logits: np.ndarray, what: str = "") -> None:
    """bool ``masks`` == bool ``expected`` except where ``logits`` (float, same shape: the logits
    ``masks`` were thresholded from, or the reference's) lie within LOGIT_BAND of 0."""
    assert masks.shape == expected.shape == logits.shape, (
        f"{what}: shapes {masks.shape}, {expected.shape}, {logits.shape}"
    )
    differing = masks != expected
    worst = float(np.abs(logits[differing]).max(initial=0.0))
    assert worst < LOGIT_BAND, (
        f"{what}: {int(differing.sum())} mask pixels differ, one with logit {worst:.2e} "
        f"(only |logit| < {LOGIT_BAND} may flip)"
    )
