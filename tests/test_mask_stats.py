"""sam_edge.runtime.mask_stats: stability score, area, bbox and COCO RLE (vs pycocotools when present)."""

import numpy as np
import pytest

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.mask_stats import (
    decode_rle,
    encode_rle,
    mask_area,
    mask_bbox_xywh,
    stability_score,
)


def random_masks(seed=0):
    """Blobby and noisy masks of odd sizes, plus the edge cases (empty, full, one pixel)."""
    rng = np.random.default_rng(seed)
    masks = [rng.random((37, 53)) > 0.5, rng.random((64, 48)) > 0.97]
    y, x = np.mgrid[0:120, 0:90]
    masks.append((x - 40) ** 2 + (y - 70) ** 2 < 900)
    masks += [np.zeros((5, 7), bool), np.ones((5, 7), bool), np.zeros((1, 1), bool), np.ones((1, 1), bool)]
    one = np.zeros((9, 4), bool)
    one[8, 3] = True
    masks.append(one)
    big_runs = np.zeros((300, 200), bool)
    big_runs[:, 150:] = True  # runs of tens of thousands: multi-character numbers
    masks.append(big_runs)
    return masks


# --- RLE ---------------------------------------------------------------------------------------------


def test_rle_hand_checked_examples():
    # Column-major pixels 0,1,0,1,1,0 -> runs [1, 1, 1, 2, 1]; from the 4th run on the value is the
    # difference to the run two back: 2 - 1 = 1, 1 - 1 = 0 -> "11110".
    mask = np.array([[0, 1], [1, 1], [0, 0]], bool)
    assert encode_rle(mask) == {"size": [3, 2], "counts": "11110"}
    # Runs [0, 40, 7, 3]: 40 -> "X1" (two 5-bit groups), 3 - 40 = -37 -> "kN" (sign-extended).
    row = np.zeros((1, 50), bool)
    row[0, :40] = True
    row[0, 47:] = True
    assert encode_rle(row)["counts"] == "0X17kN"
    np.testing.assert_array_equal(decode_rle({"size": [1, 50], "counts": "0X17kN"}), row)
    assert encode_rle(np.ones((2, 3), bool))["counts"] == "06"


def test_rle_round_trip():
    for mask in random_masks():
        rle = encode_rle(mask)
        assert rle["size"] == list(mask.shape) and isinstance(rle["counts"], str)
        decoded = decode_rle(rle)
        assert decoded.dtype == np.bool_
        np.testing.assert_array_equal(decoded, mask)
        np.testing.assert_array_equal(decode_rle({**rle, "counts": rle["counts"].encode()}), mask)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_rle_identical_to_pycocotools():
    coco = pytest.importorskip("pycocotools.mask")
    for mask in random_masks(1):
        ref = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
        ours = encode_rle(mask)
        assert ours == {"size": ref["size"], "counts": ref["counts"].decode("ascii")}
        np.testing.assert_array_equal(decode_rle(ref), coco.decode(ref).astype(bool))
        assert mask_area(mask) == int(coco.area(ref))
        assert mask_bbox_xywh(mask) == tuple(int(v) for v in coco.toBbox(ref))


def test_rle_accepts_uncompressed_counts_and_rejects_bad_input():
    np.testing.assert_array_equal(decode_rle({"size": [2, 2], "counts": [1, 2, 1]}), [[False, True], [True, False]])
    with pytest.raises(InvalidInputError, match=r"sum to 4"):
        decode_rle({"size": [2, 2], "counts": [1, 2]})
    with pytest.raises(InvalidInputError, match="size"):
        decode_rle({"counts": "11"})
    with pytest.raises(InvalidInputError, match=r"\[H, W\]"):
        encode_rle(np.zeros((2, 2, 2), bool))


# --- area, bbox, stability -----------------------------------------------------------------------------


def test_area_and_bbox():
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    assert mask_area(mask) == 18 and mask_bbox_xywh(mask) == (3, 2, 6, 3)
    assert mask_bbox_xywh(np.zeros((4, 4), bool)) == (0, 0, 0, 0)
    single = np.zeros((4, 4), np.uint8)
    single[1, 2] = 1
    assert mask_bbox_xywh(single) == (2, 1, 1, 1) and mask_area(single) == 1
    np.testing.assert_array_equal(mask_area(np.stack([mask, ~mask])), [18, 102])


def test_stability_score_hand_checked():
    logits = np.array([[2.0, 0.5], [-0.5, -2.0]], np.float32)  # > 1: 1 pixel, > -1: 3 pixels
    assert stability_score(logits) == pytest.approx(1 / 3)
    assert stability_score(logits, threshold=0.5, offset=0.25) == pytest.approx(1 / 2)  # 1 / 2 pixels
    batch = np.stack([logits, np.full((2, 2), 5.0, np.float32), np.full((2, 2), -5.0, np.float32)])
    scores = stability_score(batch)
    assert scores.shape == (3,) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, [1 / 3, 1.0, 0.0])  # no pixel above t - o: 0 (SAM gives NaN)


def test_stability_score_matches_sam_formula():
    torch = pytest.importorskip("torch")
    logits = (np.random.default_rng(2).standard_normal((2, 3, 64, 64)) * 3).astype(np.float32)
    t = torch.from_numpy(logits)
    # segment_anything.utils.amg.calculate_stability_score, mask_threshold 0.0, offset 1.0
    inter = (t > 1.0).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32)
    union = (t > -1.0).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32)
    np.testing.assert_array_equal(stability_score(logits), (inter / union).numpy())
