"""The training recipe: its resolution schedule, box noise, refusals, devices and scene batches (tiny scenes only)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))

import torch  # noqa: E402
from prompt_sampling import jittered_box  # noqa: E402
from run_checkpoint import open_run  # noqa: E402
from scene_prefetch import ScenePrefetcher  # noqa: E402
from train_nano import check_settings, parse_args, stage_size, training_device  # noqa: E402
from train_step import train_step  # noqa: E402

from sam_edge.export.modeling.sam import Sam  # noqa: E402
from sam_edge.export.specs import get_spec  # noqa: E402


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
        (["--scenes-per-step", "0"], "--scenes-per-step must be >= 1 and --workers >= 0; got 0 and 0"),
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
        offsets = np.array([jittered_box(mask, rng, size)[2] - (9 + side) for _ in range(1500)])
        spreads[size] = float(offsets.std())
    assert spreads[1024] == pytest.approx(20.0, rel=0.06)
    assert spreads[256] == pytest.approx(5.0, rel=0.06)


def test_devices_other_than_cpu_and_a_present_cuda_are_refused_in_one_line():
    assert training_device("cpu") == torch.device("cpu")
    assert training_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(SystemExit) as refused:
        training_device("tpu")
    assert str(refused.value) == "--device must be cpu, cuda, cuda:N or auto; got 'tpu'"
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit) as refused:
            training_device("cuda")
        assert str(refused.value) == "--device cuda: this torch sees no CUDA device (use cpu or auto)"


def test_worker_processes_draw_the_same_scenes_and_prompt_streams_as_inline():
    inline = ScenePrefetcher(seed=3, instances=2, copies=1, scenes_per_step=2, workers=0)
    pooled = ScenePrefetcher(seed=3, instances=2, copies=1, scenes_per_step=2, workers=1)
    try:
        for step, size in ((4, 64), (5, 64), (6, 128)):  # the size changes as a stage would
            for mine, theirs in zip(inline.draws(step, size), pooled.draws(step, size), strict=True):
                assert torch.equal(mine.sample.image, theirs.sample.image)
                assert mine.sample.image.shape == (1, 3, size, size)
                np.testing.assert_array_equal(mine.sample.input_masks, theirs.sample.input_masks)
                assert mine.rng.random() == theirs.rng.random()  # the prompt stream continues alike
    finally:
        pooled.close()
    first, second = inline.draws(0, 64), inline.draws(1, 64)
    assert not torch.equal(first[0].sample.image, second[0].sample.image)  # step 1 starts at scene 2


def test_a_step_on_two_scenes_decodes_each_prompt_against_its_own_scene():
    torch.manual_seed(0)
    sam = Sam(get_spec("nano"))
    draws = ScenePrefetcher(seed=0, instances=2, copies=1, scenes_per_step=2, workers=0).draws(0, 64)
    record = train_step(sam, draws, 64, rounds=1, device=torch.device("cpu"))
    assert np.isfinite(record["loss"]) and 0 <= record["iou_first"] <= 1 and 0 <= record["iou_last"] <= 1
    assert sam.image_encoder.parameters().__next__().grad is not None
    # The same scenes one per step give the same per-scene embeddings the batch decoded against.
    sam.eval()
    with torch.no_grad():
        both = sam.encode_image(torch.cat([d.sample.image for d in draws]))
        alone = sam.encode_image(draws[1].sample.image)
    torch.testing.assert_close(both[1:], alone, atol=1e-5, rtol=1e-4)


def refusal_of(tmp_path, payload) -> str:
    path = tmp_path / "given.pt"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        torch.save(payload, path)
    args = args_of("--resume-from", str(path))
    args.out = tmp_path / "run"
    with pytest.raises(SystemExit) as refused:
        open_run(args, torch.device("cpu"))
    assert not args.out.exists()  # nothing written for a run that cannot start
    return str(refused.value)


def test_a_checkpoint_of_another_shape_is_refused_in_one_line(tmp_path):
    weights = Sam(get_spec("nano")).state_dict()
    key = "mask_decoder.iou_token.weight"
    weights[key] = torch.zeros(2, 128)
    del weights["mask_decoder.mask_tokens.weight"]
    message = refusal_of(tmp_path, {"model": weights, "step": 10})
    assert message == (
        f"{tmp_path / 'given.pt'} holds a model of another shape than nano's: 1 weights missing and 1 of another "
        f"shape (e.g. {key}: (2, 128), nano has (1, 256))"
    )


def test_a_plain_state_dict_or_an_unreadable_file_is_refused_in_one_line(tmp_path):
    message = refusal_of(tmp_path, Sam(get_spec("nano")).state_dict())
    assert message.endswith(
        "is not a training checkpoint: expected OUT/last.pt or OUT/snapshot.pt of train_nano.py "
        "(with 'model' and 'step'), not a plain state dict such as nano.pth"
    )
    message = refusal_of(tmp_path, b"not a checkpoint")
    assert message.startswith(f"{tmp_path / 'given.pt'} is not a training checkpoint torch can read safely: ")
    assert "\n" not in message
