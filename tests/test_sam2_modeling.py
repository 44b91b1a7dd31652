"""SAM 2 modeling pieces: the block schedule, windows, positional embedding, keys of all four sizes,
the single-mask choice and the prompt feeds (the whole model is checked in test_sam2_golden_parity.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sam2_golden_data import official_key_shapes, sam2_golden_spec

torch = pytest.importorskip("torch")

from sam_edge.export.modeling.hiera import Hiera, block_layout  # noqa: E402
from sam_edge.export.modeling.hiera_blocks import merge_windows, partition_windows  # noqa: E402
from sam_edge.export.modeling.sam2 import Sam2  # noqa: E402
from sam_edge.export.modeling.sam2_mask_decoder import select_masks, stability_scores  # noqa: E402
from sam_edge.export.sam2_checkpoint import image_state_dict, is_video_key, sam2_expected_shapes  # noqa: E402
from sam_edge.export.sam2_specs import SAM2_SPECS, Sam2DecoderSpec, Sam2ModelSpec  # noqa: E402


def test_hiera_t_block_schedule_lags_by_one_block():
    layout = block_layout(SAM2_SPECS["sam2.1_hiera_t"].encoder)
    assert [block["window"] for block in layout] == [8, 8, 4, 4, 14, 0, 14, 0, 14, 0, 14, 7]
    assert [index for index, block in enumerate(layout) if block["pool_q"]] == [1, 3, 10]
    assert [block["dim_out"] for block in layout] == [96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 768, 768]
    assert [block["num_heads"] for block in layout] == [1, 2, 2, 4, 4, 4, 4, 4, 4, 4, 8, 8]


def test_hiera_l_uses_its_own_window_spec():
    layout = block_layout(SAM2_SPECS["sam2.1_hiera_l"].encoder)
    assert len(layout) == 48
    assert {block["window"] for block in layout[9:44]} == {16, 0}  # stage 3 after its transition block
    assert layout[8]["window"] == 4 and layout[44]["window"] == 16 and layout[47]["window"] == 8
    assert [index for index, block in enumerate(layout) if block["window"] == 0] == [23, 33, 43]


def test_windows_pad_bottom_right_with_zeros_and_round_trip():
    x = torch.randn(1, 64, 64, 3)
    windows, padded = partition_windows(x, 14)
    assert padded == (70, 70) and windows.shape == (25, 14, 14, 3)
    assert torch.equal(windows[0], x[0, :14, :14])
    assert torch.count_nonzero(windows[4][:, 8:]) == 0  # the right column of windows: 70 - 64 = 6 padded
    assert torch.equal(windows[4][:, :8], x[0, :14, 56:64])
    assert torch.equal(merge_windows(windows, 14, padded, (64, 64)), x)


def test_positional_embedding_tiles_the_window_table():
    trunk = Hiera(sam2_golden_spec("sam2.1_small").encoder)
    with torch.no_grad():
        trunk.pos_embed.zero_()
        trunk.pos_embed_window.copy_(torch.randn(trunk.pos_embed_window.shape))
        embedding = trunk.positional_embedding(256, 256)
    window = trunk.pos_embed_window[0].permute(1, 2, 0)
    assert embedding.shape == (1, 256, 256, 32)
    assert torch.equal(embedding[0, 8:16, 248:256], window)
    with torch.no_grad():
        trunk.pos_embed.fill_(0.5)  # a constant background resizes to the same constant
        assert torch.allclose(trunk.positional_embedding(256, 256)[0, :8, :8], window + 0.5, atol=1e-6)


@pytest.mark.parametrize("name", list(SAM2_SPECS))
def test_every_official_size_builds_the_official_image_keys(name):
    """Our modeling's state dict = the official one minus its video modules, key for key and shape for shape."""
    official = official_key_shapes()[name]
    image_keys = {key: shape for key, shape in official.items() if not is_video_key(key)}
    assert sam2_expected_shapes(SAM2_SPECS[name]) == image_keys
    assert len(official) - len(image_keys) == {"2": 157, "2.1": 160}[SAM2_SPECS[name].version]


def test_small_config_encoder_shapes():
    spec = sam2_golden_spec("sam2.1_small")
    model = Sam2(spec).eval()
    with torch.no_grad():
        outputs = model.encode_image(torch.randn(1, 3, 1024, 1024))
    assert [tuple(o.shape) for o in outputs] == list(spec.feature_shapes.values())
    assert spec.feature_shapes == {
        "image_embed": (1, 256, 64, 64),
        "high_res_feats_0": (1, 32, 256, 256),
        "high_res_feats_1": (1, 64, 128, 128),
    }


def test_no_mem_embed_is_a_per_channel_bias_on_image_embed():
    model = Sam2(sam2_golden_spec("sam2.1_small")).eval()
    image = torch.randn(1, 3, 1024, 1024)
    with torch.no_grad():
        before = model.encode_image(image)
        model.no_mem_embed.copy_(torch.arange(256.0).reshape(1, 1, 256))
        after = model.encode_image(image)
    assert torch.allclose(after[0] - before[0], torch.arange(256.0).reshape(1, 256, 1, 1).expand(1, 256, 64, 64))
    assert torch.equal(after[1], before[1]) and torch.equal(after[2], before[2])


def test_stability_score_and_empty_union():
    logits = torch.tensor([[[[0.2, 0.0], [-0.2, 0.04]]]])  # > 0.05: 1 pixel; > -0.05: 3 pixels
    assert stability_scores(logits, 0.05).item() == pytest.approx(1 / 3)
    assert stability_scores(torch.full((1, 1, 4, 4), -1.0), 0.05).item() == 1.0


def single_mask_case(token0_value: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Two prompts: token 0 is solid (+5) for the first, ``token0_value`` everywhere for the second."""
    masks = torch.randn(2, 4, 8, 8)
    masks[0, 0] = 5.0
    masks[1, 0] = token0_value
    return masks, torch.tensor([[0.1, 0.2, 0.9, 0.3], [0.5, 0.7, 0.1, 0.8]])


def test_single_mask_falls_back_to_the_best_multimask_token():
    masks, iou = single_mask_case(0.0)  # the second prompt's token 0 is all inside the band: unstable
    chosen, scores, tokens = select_masks(masks, iou, False, Sam2DecoderSpec())
    assert tokens.tolist() == [[0], [3]]
    assert torch.equal(chosen[1, 0], masks[1, 3]) and scores[:, 0].tolist() == pytest.approx([0.1, 0.8])


def test_single_mask_without_dynamic_fallback_is_token_0():
    masks, iou = single_mask_case(0.0)
    _, _, tokens = select_masks(masks, iou, False, Sam2DecoderSpec(dynamic_multimask_via_stability=False))
    assert tokens.tolist() == [[0], [0]]


def test_multimask_output_is_tokens_1_to_3():
    masks, iou = single_mask_case(0.0)
    chosen, scores, tokens = select_masks(masks, iou, True, Sam2DecoderSpec())
    assert tokens.tolist() == [[1, 2, 3], [1, 2, 3]] and torch.equal(chosen, masks[:, 1:])
    assert torch.equal(scores, iou[:, 1:])


def test_prompt_feeds_put_box_first_and_always_pad():
    from sam_edge.export.sam2_predictor import TorchSam2Predictor

    predictor = TorchSam2Predictor(Sam2(sam2_golden_spec("sam2.1_small")))
    predictor.original_size = (200, 400)
    coords, labels, mask, has_mask = predictor.prompt_feeds(
        np.array([[[100.0, 50.0]]]), np.array([[0]]), np.array([[40.0, 20.0, 200.0, 100.0]]), None
    )
    assert labels.tolist() == [[2.0, 3.0, 0.0, -1.0]]
    expected = [[[40 / 400 * 1024, 20 / 200 * 1024], [512.0, 512.0], [256.0, 256.0], [0.0, 0.0]]]
    np.testing.assert_allclose(coords.numpy(), np.array(expected), rtol=1e-6)
    assert has_mask.tolist() == [0.0] and mask.shape == (1, 1, 256, 256)
    coords, labels, _, has_mask = predictor.prompt_feeds(None, None, None, np.zeros((1, 256, 256), np.float32))
    assert coords.shape == (1, 0, 2) and labels.shape == (1, 0) and has_mask.tolist() == [1.0]


def test_spec_round_trips_through_its_dict():
    for spec in list(SAM2_SPECS.values()) + [sam2_golden_spec("sam2_small")]:
        assert Sam2ModelSpec.from_dict(spec.to_dict()) == spec


def test_image_state_dict_drops_only_video_modules():
    shapes = official_key_shapes()["sam2.1_hiera_t"]
    state_dict = {key: torch.zeros(()) for key in shapes}
    kept = image_state_dict(state_dict)
    assert "no_mem_embed" in kept and "no_mem_pos_enc" not in kept and "no_obj_embed_spatial" not in kept
    assert len(kept) == 311 and not any(key.startswith("memory_") for key in kept)
