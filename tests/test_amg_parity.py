"""Parity of sam-edge's SamAutomaticMaskGenerator with Meta's, on golden records of the official code.

tests/golden/make_amg_golden.py ran the official generator on the bundled model's graphs (see its
docstring); here our generator runs the same cases on the same graphs and engine. Per case: the counts
agree within 2% and >= 98% of the official masks have a match at IoU >= 0.98 (one-to-one, best first);
matched records agree on box, area, scores, prompt point and crop box where the masks are identical.

On another CPU the engine's kernels round differently (tests/mask_policy.py), so a record whose
predicted IoU or stability lies within rounding of its filter's threshold may be kept on one CPU and
dropped on another: such records, and only those, may go unmatched beyond the 2% / 98% allowance.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam_edge.runtime.automatic_mask_generator import SamAutomaticMaskGenerator
from sam_edge.runtime.mask_stats import decode_rle
from sam_edge.runtime.predictor import SamPredictor
from sam_edge.scenes import generate_scene

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads(gzip.open(ROOT / "tests" / "golden" / "amg_golden.json.gz", "rt").read())
CASES = {case["name"]: case for case in GOLDEN["cases"]}
MATCH_IOU, MATCHED_SHARE, COUNT_TOLERANCE = 0.98, 0.98, 0.02
SCORE_ATOL = 1e-4  # predicted IoU across engines and CPUs, as the runtime's parity tests allow
STABILITY_BAND = 0.01  # stability is a ratio of pixel counts: a few flipped pixels near 0 move it this much


@pytest.fixture(scope="module")
def predictor() -> SamPredictor:
    made = GOLDEN["made_with"]
    return SamPredictor("nano", backend=made["engine"], threads=made["threads"])


@pytest.fixture(scope="module")
def ours(predictor) -> dict:
    """Our records for every golden case (one run each)."""
    results = {}
    for name, case in CASES.items():
        generator = SamAutomaticMaskGenerator(predictor, **case["kwargs"])
        results[name] = generator.generate(case_image(case["image"]))
    return results


def case_image(spec: dict) -> np.ndarray:
    if "path" in spec:
        with Image.open(ROOT / spec["path"]) as image:
            return np.asarray(image.convert("RGB"))
    return generate_scene(spec["scene_seed"]).image


def as_mask(segmentation) -> np.ndarray:
    return segmentation if isinstance(segmentation, np.ndarray) else decode_rle(segmentation)


def match(official: list[np.ndarray], mine: list[np.ndarray]) -> list[tuple[int, int, float]]:
    """One-to-one (official index, our index, IoU) pairs, greedily by decreasing IoU."""
    if not official or not mine:
        return []
    a = np.stack([m.ravel() for m in official]).astype(np.float32)
    b = np.stack([m.ravel() for m in mine]).astype(np.float32)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    pairs, used_a, used_b = [], set(), set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        i, j = divmod(int(flat), iou.shape[1])
        if i not in used_a and j not in used_b:
            used_a.add(i), used_b.add(j)
            pairs.append((i, j, float(iou[i, j])))
    return pairs


def near_a_threshold(record: dict, kwargs: dict) -> bool:
    """Whether rounding alone could move ``record`` across the IoU or the stability filter."""
    iou_threshold, stability_threshold = kwargs.get("pred_iou_thresh", 0.88), kwargs.get("stability_score_thresh", 0.95)
    return (
        abs(record["predicted_iou"] - iou_threshold) < SCORE_ATOL
        or abs(record["stability_score"] - stability_threshold) < STABILITY_BAND
    )


@pytest.mark.parametrize("name", list(CASES))
def test_masks_match_the_official_generator(name, ours):
    case, records = CASES[name], ours[name]
    official = [decode_rle(r["segmentation"]) for r in case["records"]]
    mine = [as_mask(r["segmentation"]) for r in records]
    pairs = [(i, j, iou) for i, j, iou in match(official, mine) if iou >= MATCH_IOU]
    unmatched = [case["records"][i] for i in set(range(len(official))) - {i for i, _, _ in pairs}]
    unmatched += [records[j] for j in set(range(len(mine))) - {j for _, j, _ in pairs}]
    borderline = all(near_a_threshold(record, case["kwargs"]) for record in unmatched)
    assert abs(len(mine) - len(official)) <= COUNT_TOLERANCE * len(official) or borderline, (len(mine), len(official))
    assert len(pairs) >= MATCHED_SHARE * len(official) or borderline, (
        f"{len(pairs)} of {len(official)} official masks matched"
    )
    for i, j, iou in pairs:
        theirs, mine_record = case["records"][i], records[j]
        assert mine_record["point_coords"] == theirs["point_coords"] and mine_record["crop_box"] == theirs["crop_box"]
        assert mine_record["predicted_iou"] == pytest.approx(theirs["predicted_iou"], abs=SCORE_ATOL)
        if iou == 1.0:
            assert (mine_record["bbox"], mine_record["area"]) == (theirs["bbox"], theirs["area"])
            assert mine_record["stability_score"] == pytest.approx(theirs["stability_score"], abs=1e-3)


@pytest.mark.parametrize("name", list(CASES))
def test_records_have_the_official_layout(name, ours):
    case, records = CASES[name], ours[name]
    height, width = case["image_size"]
    for record, theirs in zip(records, case["records"]):
        assert list(record) == [k for k in theirs if k != "segmentation_type"]
        segmentation = record["segmentation"]
        if case["kwargs"]["output_mode"] == "binary_mask":
            assert segmentation.dtype == np.bool_ and segmentation.shape == (height, width)
        else:
            expected = list if case["kwargs"]["output_mode"] == "uncompressed_rle" else str
            assert segmentation["size"] == [height, width] and isinstance(segmentation["counts"], expected)
        assert all(isinstance(v, int) for v in record["bbox"] + record["crop_box"] + [record["area"]])


def test_default_thresholds_keep_nothing_with_the_bundled_model(ours):
    """The bundled model's IoU head scores below 0.88: the official defaults keep no mask, as the official code."""
    assert ours["scene_default_thresholds"] == [] == CASES["scene_default_thresholds"]["records"]


def test_pycocotools_decodes_our_rle_to_our_masks(ours, predictor):
    coco = pytest.importorskip("pycocotools.mask")
    for name in ("grid", "crops_small_regions"):
        for record in ours[name]:
            rle = record["segmentation"]
            if isinstance(rle["counts"], list):
                rle = coco.frPyObjects(rle, *rle["size"])
            decoded = coco.decode(rle).astype(bool)
            np.testing.assert_array_equal(decoded, as_mask(record["segmentation"]))
            assert int(coco.area(rle)) == record["area"]


def test_candidates_upscaled_before_nms_give_the_same_records(predictor, monkeypatch):
    """Past the memory budget for candidates waiting on NMS, they are upscaled at once: same records."""
    import sam_edge.runtime.automatic_mask_generator as amg

    case = CASES["no_filters_binary"]
    kwargs, image = {**case["kwargs"], "points_per_side": 4}, case_image(case["image"])
    waiting = SamAutomaticMaskGenerator(predictor, **kwargs).generate(image)
    monkeypatch.setattr(amg, "PENDING_BYTES", 0)
    at_once = SamAutomaticMaskGenerator(predictor, **kwargs).generate(image)
    assert len(at_once) == len(waiting) > 3
    for mine, before in zip(at_once, waiting):
        np.testing.assert_array_equal(mine.pop("segmentation"), before.pop("segmentation"))
        assert mine == before
