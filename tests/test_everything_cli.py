"""`sam-edge everything` and SamAutomaticMaskGenerator's refusals, on the bundled model and sample scene.

Small grids keep every run to a few dozen prompts; parity with the official generator is
tests/test_amg_parity.py's job.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli
from PIL import Image

from sam_edge.runtime.automatic_mask_generator import SamAutomaticMaskGenerator
from sam_edge.runtime.errors import InvalidInputError, SamEdgeError
from sam_edge.runtime.mask_stats import decode_rle
from sam_edge.runtime.predictor import SamPredictor

SCENE = Path(__file__).resolve().parents[1] / "assets" / "sample_scene.png"  # 640x480
LOW = ["--points-per-side", "4", "--pred-iou-thresh", "0.1", "--stability-score-thresh", "0.2", "--threads", "2"]


@pytest.fixture(scope="module")
def predictor() -> SamPredictor:
    return SamPredictor("nano", threads=2)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("everything")
    files = {"json": out / "masks.json", "masks": out / "masks", "overlay": out / "overlay.png"}
    status, stdout, stderr = run_cli(
        "everything", SCENE, *LOW, "--json", files["json"], "--masks-dir", files["masks"], "--overlay", files["overlay"]
    )
    return dict(status=status, stdout=stdout, stderr=stderr, **files)


def test_json_holds_the_generators_records_as_amg_py_writes_them(full_run, predictor):
    assert full_run["status"] == 0, full_run["stderr"]
    records = json.loads(full_run["json"].read_text())
    generator = SamAutomaticMaskGenerator(
        predictor, points_per_side=4, pred_iou_thresh=0.1, stability_score_thresh=0.2, output_mode="coco_rle"
    )
    expected = generator.generate(np.asarray(Image.open(SCENE).convert("RGB")))
    assert records == json.loads(json.dumps(expected)) and len(records) > 3
    assert list(records[0]) == [
        "segmentation",
        "area",
        "bbox",
        "predicted_iou",
        "point_coords",
        "stability_score",
        "crop_box",
    ]
    assert f"{len(records)} masks in" in full_run["stdout"] and "16/16 prompts" in full_run["stderr"]


def test_masks_dir_is_amg_py_layout(full_run):
    records = json.loads(full_run["json"].read_text())
    lines = (full_run["masks"] / "metadata.csv").read_text().split("\n")
    assert lines[0] == (
        "id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,"
        "stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h"
    )
    assert len(lines) == len(records) + 1
    for index, (line, record) in enumerate(zip(lines[1:], records)):
        values = [
            index,
            record["area"],
            *record["bbox"],
            *record["point_coords"][0],
            record["predicted_iou"],
            record["stability_score"],
            *record["crop_box"],
        ]
        assert line == ",".join(str(v) for v in values)
        with Image.open(full_run["masks"] / f"{index}.png") as png:
            assert png.mode == "L"
            np.testing.assert_array_equal(np.asarray(png), decode_rle(record["segmentation"]).astype(np.uint8) * 255)
    expected = [f"{i}.png" for i in range(len(records))] + ["metadata.csv"]
    assert sorted(p.name for p in full_run["masks"].iterdir()) == sorted(expected)


def test_overlay_tints_every_mask(full_run):
    records = json.loads(full_run["json"].read_text())
    with Image.open(full_run["overlay"]) as overlay, Image.open(SCENE) as scene:
        changed = np.any(np.asarray(overlay) != np.asarray(scene.convert("RGB")), axis=2)
    covered = np.any([decode_rle(r["segmentation"]) for r in records], axis=0)
    assert changed[covered].mean() > 0.99 and not changed[~covered].any()


def test_no_surviving_mask_names_the_filters_and_writes_empty_outputs(tmp_path):
    out_json, masks = tmp_path / "none.json", tmp_path / "masks"
    status, stdout, stderr = run_cli(
        "everything", SCENE, "--points-per-side", "2", "--json", out_json, "--masks-dir", masks
    )
    assert status == 0, stderr
    assert "no mask survived the filters: 12 candidate masks; removed by pred_iou_thresh 12; kept 0" in stdout
    assert json.loads(out_json.read_text()) == []
    assert [p.name for p in masks.iterdir()] == ["metadata.csv"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--points-per-side", "0"], "points_per_side must be an integer >= 1; got 0"),
        (["--points-per-side", "65"], "points_per_side 65 makes a grid of 4225 points; accepted: at most 4096 points"),
        (["--pred-iou-thresh", "1.5"], "pred_iou_thresh must be 0 <= value <= 1; got 1.5"),
        (["--box-nms-thresh", "nan"], "box_nms_thresh must be 0 <= value <= 1; got nan"),
        (["--crop-overlap-ratio", "1"], "crop_overlap_ratio must be 0 <= value < 1; got 1.0"),
        (
            ["--points-per-side", "2", "--crop-n-layers", "2", "--crop-n-points-downscale-factor", "2"],
            "crop layer 2 gets no point: points_per_side 2 / crop_n_points_downscale_factor**2 < 1",
        ),
        (["--max-pixels", "1000"], "is 640x480 = 307,200 pixels, above the limit of 1,000 pixels"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, arguments, message):
    out_json = tmp_path / "out.json"
    status, stdout, stderr = run_cli("everything", SCENE, *arguments, "--json", out_json, "--masks-dir", tmp_path / "m")
    assert status == 2 and stdout == "", (status, stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sam-edge everything: error: ") and message in lines[0], stderr
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_masks_dir_is_refused_before_the_model_runs(tmp_path):
    (tmp_path / "old.png").write_bytes(b"")
    status, stdout, stderr = run_cli("everything", SCENE, "--masks-dir", tmp_path)
    assert status == 2 and f"--masks-dir {tmp_path} is not empty" in stderr and "segmenting" not in stderr


def test_generator_refusals(predictor, monkeypatch):
    accepted = "binary_mask, uncompressed_rle, coco_rle"
    with pytest.raises(InvalidInputError, match=f"^unknown output_mode 'png'; accepted: {accepted}$"):
        SamAutomaticMaskGenerator(predictor, output_mode="png")
    with pytest.raises(InvalidInputError, match="give exactly one of points_per_side or point_grids"):
        SamAutomaticMaskGenerator(predictor, point_grids=[np.array([[0.5, 0.5]])])
    with pytest.raises(InvalidInputError, match=r"point grid 0 must hold \(x, y\) normalised to \[0, 1\]"):
        SamAutomaticMaskGenerator(predictor, points_per_side=None, point_grids=[np.array([[1.5, 0.5]])])
    monkeypatch.setitem(sys.modules, "scipy", None)
    needs_scipy = r"^min_mask_region_area > 0 needs scipy \(pip install 'sam-edge\[everything\]'\)"
    with pytest.raises(SamEdgeError, match=needs_scipy):
        SamAutomaticMaskGenerator(predictor, min_mask_region_area=10)
    assert SamAutomaticMaskGenerator(predictor, min_mask_region_area=0).settings.min_mask_region_area == 0


def test_explicit_point_grid_and_binary_masks(predictor):
    grid = [np.array([[0.33, 0.4], [0.8, 0.2]])]
    generator = SamAutomaticMaskGenerator(
        predictor, points_per_side=None, point_grids=grid, pred_iou_thresh=0.0, stability_score_thresh=0.0
    )
    records = generator.generate(SCENE)
    assert generator.last_counts.candidates == 6 and len(records) == generator.last_counts.kept >= 1
    for record in records:
        mask = record["segmentation"]
        assert mask.dtype == np.bool_ and mask.shape == (480, 640) and int(mask.sum()) == record["area"]
        assert record["point_coords"][0] in ([0.33 * 640, 0.4 * 480], [0.8 * 640, 0.2 * 480])
