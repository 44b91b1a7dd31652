"""The training recipe's pure parts: its resolution schedule, box noise and refusals (no training runs here)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))

from prompt_sampling import jittered_box  # noqa: E402
from train_nano import check_settings, parse_args, stage_size  # noqa: E402


def args_of(*extra: str):
    return parse_args(["--out", "unused", *extra])


def test_stages_run_warm_then_main_then_1024():
    args = args_of("--warm-size", "256", "--warm-fraction", "0.35", "--finetune-fraction", "0.15")
    assert [stage_size(args, p) for p in (0.0, 0.34, 0.35, 0.84, 0.85, 1.0)] == [256, 256, 512, 512, 1024, 1024]
    no_warm = args_of("--warm-fraction", "0")
    assert stage_size(no_warm, 0.0) == 512


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--warm-size", "300"], "--warm-size must be a multiple of 64 within 64..1024; got 300"),
        (["--image-size", "2048"], "--image-size must be a multiple of 64 within 64..1024; got 2048"),
        (
            ["--warm-fraction", "0.9"],
            "--warm-fraction and --finetune-fraction must be within 0..1 and sum to at most 1; got 0.9 and 0.15",
        ),
        (
            ["--prompts-per-instance", "0"],
            "--hours must be > 0, --instances >= 1, --prompts-per-instance >= 1 and --rounds >= 0",
        ),
    ],
)
def test_impossible_settings_are_refused_in_one_line(extra, message):
    with pytest.raises(SystemExit) as refused:
        check_settings(args_of(*extra))
    assert str(refused.value) == message


def test_box_noise_is_sams_relative_to_the_training_frame():
    # A 400 px object: SAM's noise is 10% of the side capped at 20 px of a 1024 frame, so the cap
    # (not the 10%) sets the spread, and at 256 it is a quarter of that in pixels.
    spreads = {}
    for size in (1024, 256):
        mask = np.zeros((size, size), bool)
        side = size * 400 // 1024
        mask[10 : 10 + side, 10 : 10 + side] = True
        rng = np.random.default_rng(0)
        offsets = np.array([jittered_box(mask, rng, size)[2] - (9 + side) for _ in range(4000)])
        spreads[size] = float(offsets.std())
    assert spreads[1024] == pytest.approx(20.0, rel=0.06)
    assert spreads[256] == pytest.approx(5.0, rel=0.06)
