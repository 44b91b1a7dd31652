"""The automatic mask generator's parts: RLE, box NMS, grids and crops, windowed upscaling, small regions.

Each part is checked against a direct full-frame computation of what segment_anything does (written
out here in numpy / scipy), and against pycocotools for the RLE bytes where it is installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from sam_edge.runtime.amg_grid import build_point_grid, crop_boxes, near_crop_edge
from sam_edge.runtime.box_nms import nms
from sam_edge.runtime.mask_upscale import MaskUpscaler
from sam_edge.runtime.mask_windows import WindowMask, upscale_windowed
from sam_edge.runtime.rle import counts_area, counts_to_mask, counts_to_string, string_to_counts, window_counts
from sam_edge.runtime.small_regions import remove_small_regions
from sam_edge.runtime.transforms import preprocess_shape

ndimage = pytest.importorskip("scipy.ndimage")


def official_counts(mask: np.ndarray) -> list[int]:
    """segment_anything's mask_to_rle_pytorch, in numpy: runs of the Fortran-order pixels, zeros first."""
    flat = mask.T.ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    return runs if not flat[0] else [0] + runs


def random_window(rng, full_height: bool = False):
    height, width = (int(v) for v in rng.integers(1, 30, 2))
    h = height if full_height else int(rng.integers(0, height + 1))
    w = int(rng.integers(0, width + 1))
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    return rng.random((h, w)) > rng.random(), top, left, (height, width)


def test_window_counts_equal_the_official_runs_of_the_full_frame():
    rng = np.random.default_rng(0)
    for trial in range(400):
        mask, top, left, size = random_window(rng, full_height=trial % 3 == 0)
        full = WindowMask(mask, top, left, size).full_frame()
        counts = window_counts(mask, top, left, size)
        assert counts.tolist() == official_counts(full)
        np.testing.assert_array_equal(counts_to_mask(counts, size), full)
        assert counts_area(counts) == int(full.sum())


def test_compressed_string_is_pycocotools_and_round_trips():
    coco = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(1)
    for trial in range(200):
        mask, top, left, size = random_window(rng, full_height=trial % 2 == 0)
        full = WindowMask(mask, top, left, size).full_frame()
        reference = coco.encode(np.asfortranarray(full.astype(np.uint8)))["counts"].decode("ascii")
        counts = window_counts(mask, top, left, size)
        assert counts_to_string(counts) == reference
        assert string_to_counts(reference).tolist() == counts.tolist()
    big = np.array([0, 40_000_000, 7, 3, 123_456, 1])  # multi-group numbers, negative deltas
    assert string_to_counts(counts_to_string(big)).tolist() == big.tolist()


def reference_nms(boxes, scores, threshold):
    """torchvision's greedy loop, one pair at a time in float32."""
    boxes, scores = np.asarray(boxes, np.float32), np.asarray(scores, np.float32)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    suppressed, keep = set(), []
    for a, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[a + 1 :]:
            iw = max(np.float32(0), min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
            ih = max(np.float32(0), min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
            inter = iw * ih
            area_i = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            area_j = (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1])
            with np.errstate(invalid="ignore"):
                if float(inter / (area_i + area_j - inter)) > threshold:
                    suppressed.add(j)
    return keep


def test_nms_keeps_what_torchvision_keeps_in_its_order():
    rng = np.random.default_rng(2)
    for _ in range(30):
        n = int(rng.integers(1, 60))
        x0, y0 = rng.integers(0, 50, (2, n))
        boxes = np.stack([x0, y0, x0 + rng.integers(0, 30, n), y0 + rng.integers(0, 30, n)], axis=1)
        scores = rng.integers(0, 4, n).astype(np.float32) / 4  # ties: kept in input order
        assert nms(boxes, scores, 0.5).tolist() == reference_nms(boxes, scores, 0.5)
    # exactly at the threshold is kept (strictly greater suppresses); an empty box never suppresses
    assert nms([[0, 0, 10, 10], [0, 0, 10, 5]], [1.0, 0.5], 0.5).tolist() == [0, 1]
    assert nms([[0, 0, 0, 0], [0, 0, 0, 0]], [1.0, 0.5], 0.0).tolist() == [0, 1]


def test_grid_and_crop_boxes_are_the_official_ones():
    np.testing.assert_allclose(build_point_grid(2), [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])
    boxes, layers = crop_boxes((480, 640), 1, 512 / 1500)
    # overlap = int(512/1500 * 480) = 163; crop w = ceil((163 + 640) / 2) = 402, h = ceil((163 + 480) / 2) = 322
    assert boxes == [[0, 0, 640, 480], [0, 0, 402, 322], [0, 159, 402, 480], [239, 0, 640, 322], [239, 159, 640, 480]]
    assert layers == [0, 1, 1, 1, 1]
    # a box 20 px from the crop's inner edge is cut; at the image edge it is not
    boxes = np.array([[100, 100, 382, 200], [100, 100, 381, 200], [0, 0, 50, 50]])
    edge = near_crop_edge(boxes, [0, 0, 402, 322], (480, 640))
    assert edge.tolist() == [True, False, False]


def blobs(rng, count: int) -> np.ndarray:
    y, x = np.mgrid[0:256, 0:256]
    centres = rng.uniform(0, 256, (count, 2))
    radii = rng.uniform(3, 60, count)
    logits = [(r - np.hypot(y - cy, x - cx)) / rng.uniform(1, 8) for (cy, cx), r in zip(centres, radii)]
    return np.stack(logits).astype(np.float32)


@pytest.mark.parametrize("size", [(480, 640), (1000, 1500), (611, 880), (37, 1200)])
def test_windowed_stability_mask_and_box_equal_the_full_frame_ones(size):
    upscaler = MaskUpscaler(size, preprocess_shape(*size, 1024), 1024)
    low_res = blobs(np.random.default_rng(3), 8)
    low_res[0] = -5.0  # nothing above -1: an empty mask with stability 0 / 0
    full = upscaler.logits(low_res)
    for result, logits in zip(upscale_windowed(upscaler, low_res, 0.0, 1.0), full):
        mask = logits > 0
        np.testing.assert_array_equal(result.mask.full_frame(), mask)
        union = np.count_nonzero(logits > -1)
        expected = np.float32(np.count_nonzero(logits > 1)) / np.float32(union) if union else np.nan
        np.testing.assert_equal(result.stability, np.float32(expected))
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        box = [cols[0], rows[0], cols[-1], rows[-1]] if rows.size else [0, 0, 0, 0]
        assert result.box == [int(v) for v in box]


def official_small_regions(mask: np.ndarray, area: int) -> tuple[np.ndarray, bool]:
    """segment_anything's remove_small_regions (holes, then islands), 8-connected, on the full frame."""
    changed = False
    for holes in (True, False):
        labels, count = ndimage.label(mask ^ holes, structure=np.ones((3, 3)))
        sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        small = [i + 1 for i, s in enumerate(sizes) if s < area]
        if not small:
            continue
        changed = True
        fill = [0] + small
        if not holes:
            fill = [i for i in range(count + 1) if i not in fill] or [int(np.argmax(sizes)) + 1]
        mask = np.isin(labels, fill)
    return mask, changed


def test_small_regions_in_the_window_equal_the_full_frame_clean_up():
    rng = np.random.default_rng(4)
    for trial in range(300):
        height, width = (int(v) for v in rng.integers(3, 40, 2))
        full = ndimage.binary_dilation(rng.random((height, width)) > 0.93, iterations=int(rng.integers(0, 3)))
        if trial % 4 == 0:
            full[:, : int(rng.integers(1, width))] |= rng.random() > 0.5  # boxes that span the frame
        area = int(rng.integers(1, 40))
        expected, expected_changed = official_small_regions(full, area)
        cleaned, changed = remove_small_regions(WindowMask.from_full_frame(full), area)
        np.testing.assert_array_equal(cleaned.full_frame(), expected, err_msg=f"trial {trial}")
        assert changed == expected_changed


@pytest.mark.parametrize("size", [(480, 640), (1000, 1500), (37, 1200)])
def test_band_boxes_are_the_full_frame_boxes_and_pending_masks_the_full_ones(size):
    from sam_edge.runtime.deferred_masks import band_boxes, materialize, pending_masks

    upscaler = MaskUpscaler(size, preprocess_shape(*size, 1024), 1024)
    low_res = blobs(np.random.default_rng(5), 10)
    low_res[0] = -5.0
    low_res[1] = np.where(np.arange(256)[None, :] < 3, 0.01, -3.0)  # a sliver at the left edge
    pending = pending_masks(upscaler, low_res, 0.0, 1.0)
    boxes = band_boxes(upscaler, low_res, pending, 0.0)
    for box, result, waiting in zip(boxes, upscale_windowed(upscaler, low_res, 0.0, 1.0), pending):
        assert box.tolist() == result.box
        late = materialize(upscaler, waiting, 0.0, 1.0)
        np.testing.assert_array_equal(late.mask.full_frame(), result.mask.full_frame())
        np.testing.assert_equal(late.stability, result.stability)
