"""sam_edge.runtime.transforms against the official segment_anything transforms (golden file) and torch."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.mask_upscale import MaskUpscaler
from sam_edge.runtime.transforms import (
    bilinear_matrix,
    boxes_to_input_frame,
    mask_upscale_matrices,
    normalize_and_pad,
    preprocess_shape,
    resize_longest_side,
    to_input_frame,
)

GOLDEN = Path(__file__).parent / "golden" / "transforms_golden.npz"


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as data:
        return {k: data[k] for k in data.files}


def image_indices(golden):
    return range(len(golden["image_sizes"]))


def sha256(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


# --- golden: official ResizeLongestSide / Sam.preprocess / Sam.postprocess_masks ------------------


def test_preprocess_shape_matches_official(golden):
    for target in (128, 1024):
        ours = np.array([preprocess_shape(int(h), int(w), target) for h, w in golden["shape_hw"]])
        np.testing.assert_array_equal(ours, golden[f"shape_{target}"])
    assert preprocess_shape(1500, 1000, 1024) == (1024, 683)
    assert preprocess_shape(1000, 1500, 1024) == (683, 1024)


def test_resize_128_identical_to_official(golden):
    for i in image_indices(golden):
        ours = resize_longest_side(golden[f"img_{i}"], 128)
        assert ours.dtype == np.uint8
        np.testing.assert_array_equal(ours, golden[f"resized128_{i}"], err_msg=f"image {i}")


def test_resize_1024_identical_to_official(golden):
    for i in image_indices(golden):
        ours = resize_longest_side(golden[f"img_{i}"], 1024)
        assert ours.shape == tuple(golden[f"resized1024_shape_{i}"])
        np.testing.assert_array_equal(ours[ours.shape[0] // 2], golden[f"resized1024_row_{i}"])
        assert sha256(ours) == str(golden[f"resized1024_sha_{i}"]), f"image {i}"


def pattern_image(h, w):
    """Same formula as tests/golden/make_transforms_golden.py."""
    y, x, c = np.ogrid[0:h, 0:w, 0:3]
    return ((y * 7 + x * 13 + c * 50) ^ (x * y // 3)).astype(np.uint8)


@pytest.mark.parametrize("j, size", [(0, (1500, 1001)), (1, (999, 2048))])
def test_downscale_to_1024_identical_to_official(golden, j, size):
    ours = resize_longest_side(pattern_image(*size), 1024)
    assert ours.shape == tuple(golden[f"pattern1024_shape_{j}"])
    assert sha256(ours) == str(golden[f"pattern1024_sha_{j}"])


def test_normalize_and_pad_identical_to_official_preprocess(golden):
    for i in image_indices(golden):
        ours = normalize_and_pad(golden[f"resized128_{i}"], image_size=128)
        assert ours.shape == (1, 3, 128, 128) and ours.dtype == np.float32
        np.testing.assert_allclose(ours.astype(np.float64).sum(), golden[f"pre128_sum_{i}"], rtol=1e-9)
        assert sha256(ours) == str(golden[f"pre128_sha_{i}"]), f"image {i}"


def test_points_and_boxes_match_official(golden):
    for i in image_indices(golden):
        original_size = tuple(int(v) for v in golden["image_sizes"][i])
        for target in (128, 1024):
            input_size = preprocess_shape(*original_size, target)
            points = to_input_frame(golden[f"points_{i}"], original_size, input_size)
            boxes = boxes_to_input_frame(golden[f"boxes_{i}"], original_size, input_size)
            assert points.dtype == np.float32 and boxes.dtype == np.float32
            # float32 holds ~7 digits (6e-5 at 1000 px): compare relative to the float64 reference,
            # and bit-exact with what SamPredictor feeds the decoder (float64 cast to float32).
            np.testing.assert_allclose(points, golden[f"points{target}_{i}"], rtol=1e-7, atol=1e-5)
            np.testing.assert_allclose(boxes, golden[f"boxes{target}_{i}"], rtol=1e-7, atol=1e-5)
            np.testing.assert_array_equal(points, golden[f"points{target}_{i}"].astype(np.float32))
            np.testing.assert_array_equal(boxes, golden[f"boxes{target}_{i}"].astype(np.float32))


def test_upscale_matches_official_postprocess_masks(golden):
    low_res = golden["low_res"][0]  # [2, 32, 32]
    for i in golden["postprocess_images"]:
        original_size = tuple(int(v) for v in golden["image_sizes"][i])
        input_size = preprocess_shape(*original_size, 128)
        upscaler = MaskUpscaler(original_size, input_size, image_size=128, low_res_size=32)
        ours = upscaler.logits(low_res)
        np.testing.assert_allclose(ours, golden[f"post_{i}"][0], rtol=0, atol=1e-5, err_msg=f"{i}")


# --- torch: bilinear upscaling exactly as Sam.postprocess_masks --------------------------------------


def torch_postprocess(low_res, input_size, original_size, image_size=1024):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    masks = torch.from_numpy(low_res)[None]
    masks = F.interpolate(masks, (image_size, image_size), mode="bilinear", align_corners=False)
    masks = masks[..., : input_size[0], : input_size[1]]
    return F.interpolate(masks, original_size, mode="bilinear", align_corners=False)[0].numpy()


@pytest.mark.parametrize(
    "original_size, n_masks",
    [((1500, 1000), 3), ((1000, 1500), 1), ((37, 53), 3), ((600, 800), 1), ((1024, 768), 1), ((2100, 1300), 1)],
)
def test_upscale_matches_torch_interpolate(original_size, n_masks):
    rng = np.random.default_rng(sum(original_size))
    low_res = (rng.standard_normal((n_masks, 256, 256)) * 4.0).astype(np.float32)
    input_size = preprocess_shape(*original_size, 1024)
    rows, cols = mask_upscale_matrices(original_size, input_size)
    assert rows.shape == (original_size[0], 256) and cols.shape == (original_size[1], 256)
    ours = MaskUpscaler(original_size, input_size).logits(low_res)
    ref = torch_postprocess(low_res, input_size, original_size)
    assert ours.shape == ref.shape == (n_masks, *original_size)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours, rows @ low_res @ cols.T, rtol=0, atol=2e-6)  # blocks == dense maps
    decided = np.abs(ref) >= 1e-4
    np.testing.assert_array_equal((ours > 0)[decided], (ref > 0)[decided])


@pytest.mark.parametrize("original_size, display_size", [((1500, 1000), (600, 400)), ((480, 640), (961, 1281))])
def test_upscale_to_a_display_size_resamples_the_crop_straight_to_it(original_size, display_size):
    low_res = (np.random.default_rng(7).standard_normal((2, 256, 256)) * 4.0).astype(np.float32)
    input_size = preprocess_shape(*original_size, 1024)
    upscaler = MaskUpscaler(original_size, input_size, output_size=display_size)
    ours = upscaler.logits(low_res)
    assert ours.shape == (2, *display_size) and upscaler.masks(low_res).dtype == np.bool_
    np.testing.assert_allclose(ours, torch_postprocess(low_res, input_size, display_size), rtol=0, atol=1e-4)


@pytest.mark.parametrize("in_size, out_size", [(256, 1024), (683, 1500), (1024, 37), (5, 5), (1, 7)])
def test_bilinear_matrix_matches_torch_and_rows_sum_to_one(in_size, out_size):
    torch = pytest.importorskip("torch")
    matrix = bilinear_matrix(in_size, out_size)
    assert matrix.shape == (out_size, in_size) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
    x = np.random.default_rng(0).standard_normal((1, 1, 1, in_size)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(x), (1, out_size), mode="bilinear", align_corners=False)[
        0, 0, 0
    ].numpy()
    # 1e-6: the float32 source index (with torch's fused multiply-add) is reproduced; an exact
    # float64 index would be off by up to ~4e-4 here.
    np.testing.assert_allclose(matrix @ x[0, 0, 0], ref, rtol=0, atol=1e-6)


def test_bilinear_matrix_hand_checked():
    # 2 -> 4: src = (dst + 0.5) / 2 - 0.5 = [-0.25 -> 0, 0.25, 0.75, 1.25 -> clamp to last pixel].
    expected = [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]]
    np.testing.assert_allclose(bilinear_matrix(2, 4), expected, atol=1e-7)
    np.testing.assert_array_equal(bilinear_matrix(3, 3), np.eye(3, dtype=np.float32))


def test_upscaler_broadcasts_over_leading_axes():
    rows, cols = mask_upscale_matrices((37, 53), preprocess_shape(37, 53, 1024))
    upscaler = MaskUpscaler((37, 53), preprocess_shape(37, 53, 1024))
    low = np.random.default_rng(1).standard_normal((2, 3, 256, 256)).astype(np.float32)
    out = upscaler.logits(low)
    assert out.shape == (2, 3, 37, 53) and out.dtype == np.float32
    np.testing.assert_allclose(out[1, 2], rows @ low[1, 2] @ cols.T, atol=1e-5)
    np.testing.assert_array_equal(upscaler.masks(low), out > 0.0)
    with pytest.raises(InvalidInputError, match=r"\[\.\.\., 256, 256\]"):
        upscaler.logits(low[..., :128])
    with pytest.raises(InvalidInputError, match="output size must be"):
        MaskUpscaler((37, 53), preprocess_shape(37, 53, 1024), output_size=(0, 10))


def test_upscaler_in_groups_of_masks_gives_each_mask_its_own_result(monkeypatch):
    import sam_edge.runtime.mask_upscale as mask_upscale

    upscaler = MaskUpscaler((1000, 1500), preprocess_shape(1000, 1500, 1024))
    low = (np.random.default_rng(3).standard_normal((3, 3, 256, 256)) * 4.0).astype(np.float32)
    alone_logits = [upscaler.logits(mask) for mask in low.reshape(9, 256, 256)]
    alone_masks = [upscaler.masks(mask) for mask in low.reshape(9, 256, 256)]
    monkeypatch.setattr(mask_upscale, "GROUP_BYTES", 2 * 256 * 1500 * 4)  # groups of 2: the last one holds 1
    logits, masks = upscaler.logits(low), upscaler.masks(low)
    assert logits.shape == masks.shape == (3, 3, 1000, 1500)
    np.testing.assert_array_equal(logits.reshape(9, 1000, 1500), np.stack(alone_logits))
    np.testing.assert_array_equal(masks.reshape(9, 1000, 1500), np.stack(alone_masks))
    assert upscaler.masks(low[:0]).shape == (0, 3, 1000, 1500)


# --- hand-checked values and input checks -------------------------------------------------------------


def test_normalize_and_pad_values_and_zero_padding():
    resized = np.full((2, 3, 3), 255, dtype=np.uint8)
    out = normalize_and_pad(resized, image_size=4)
    assert out.shape == (1, 3, 4, 4)
    expected = (255.0 - np.array([123.675, 116.28, 103.53])) / np.array([58.395, 57.12, 57.375])
    np.testing.assert_allclose(out[0, :, 0, 0], expected, rtol=1e-6)
    assert (out[0, :, 2:, :] == 0).all() and (out[0, :, :, 3:] == 0).all()
    with pytest.raises(InvalidInputError, match="resize_longest_side"):
        normalize_and_pad(np.zeros((5, 3, 3), np.uint8), image_size=4)


def test_coordinate_frames_and_shapes():
    coords = np.array([[[10, 20], [1000, 1500]]])  # [1, 2, 2] ints, (x, y) in a 1500x1000 (HxW) image
    out = to_input_frame(coords, (1500, 1000), (1024, 683))
    np.testing.assert_allclose(out[0, 1], [683.0, 1024.0])
    np.testing.assert_allclose(out[0, 0], [10 * 0.683, 20 * 1024 / 1500], rtol=1e-6)
    boxes = boxes_to_input_frame(np.array([0, 0, 1000, 1500]), (1500, 1000), (1024, 683))
    np.testing.assert_allclose(boxes, [0, 0, 683, 1024])
    with pytest.raises(InvalidInputError, match=r"\[\.\.\., 2\]"):
        to_input_frame(np.zeros((3, 3)), (10, 10), (10, 10))
    with pytest.raises(InvalidInputError, match=r"\[\.\.\., 4\]"):
        boxes_to_input_frame(np.zeros((3,)), (10, 10), (10, 10))
    with pytest.raises(InvalidInputError, match="finite"):
        to_input_frame(np.array([np.nan, 1.0]), (10, 10), (10, 10))


def test_resize_rejects_non_rgb_uint8():
    with pytest.raises(InvalidInputError, match="HxWx3 uint8"):
        resize_longest_side(np.zeros((4, 4), np.uint8), 8)
    with pytest.raises(InvalidInputError, match="HxWx3 uint8"):
        resize_longest_side(np.zeros((4, 4, 3), np.float32), 8)
    with pytest.raises(InvalidInputError, match="positive"):
        preprocess_shape(0, 4, 8)
