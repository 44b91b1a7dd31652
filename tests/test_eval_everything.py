"""`sam-edge eval`'s segment-everything recall (synthetic masks with known answers, one tiny real run) and bad input."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from cli_runner import run_cli

from sam_edge.bench.accuracy import AccuracyReport, EvalSettings
from sam_edge.bench.eval_report import markdown_table, report_record
from sam_edge.bench.everything_recall import (
    DEFAULT_EVERYTHING_IMAGES,
    OFFICIAL_POINTS_PER_SIDE,
    EverythingRecall,
    best_ious,
)
from sam_edge.cli import build_parser
from sam_edge.runtime.default_model import bundled_model_dir
from sam_edge.runtime.errors import InvalidInputError
from sam_edge.scenes import HeldOutBenchmark


def rectangle(top: int, left: int, bottom: int, right: int, shape=(40, 60)) -> np.ndarray:
    """bool [H, W] with rows top..bottom-1 and columns left..right-1 set."""
    mask = np.zeros(shape, bool)
    mask[top:bottom, left:right] = True
    return mask


# three disjoint ground-truth objects of 100 pixels each
TARGETS = np.stack([rectangle(0, 0, 10, 10), rectangle(0, 20, 10, 30), rectangle(20, 0, 30, 10)])
GENERATED = [
    rectangle(0, 0, 10, 10),  # object 0 exactly: IoU 1
    rectangle(0, 20, 10, 35),  # object 1 plus 50 pixels: 100 / 150
    rectangle(20, 0, 30, 4),  # 40 pixels of object 2: 40 / 100
    rectangle(0, 0, 10, 30),  # objects 0 and 1 in one mask: 100 / 300 with each
    np.zeros((40, 60), bool),  # an empty mask overlaps nothing
]


def test_best_iou_of_each_object_with_any_generated_mask():
    np.testing.assert_allclose(best_ious(TARGETS, GENERATED), [1.0, 100 / 150, 0.4])
    np.testing.assert_allclose(best_ious(TARGETS, GENERATED[3:]), [1 / 3, 1 / 3, 0.0])
    np.testing.assert_array_equal(best_ious(TARGETS, []), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(best_ious(TARGETS, np.stack(GENERATED)), [1.0, 100 / 150, 0.4])  # [M, H, W] too


def test_best_iou_refuses_masks_of_another_frame():
    with pytest.raises(InvalidInputError, match=r"generated mask \(40, 50\) and targets \(40, 60\) differ"):
        best_ious(TARGETS, [np.zeros((40, 50), bool)])
    with pytest.raises(InvalidInputError, match=r"targets must be bool \[K, H, W\]; got shape \(40, 60\)"):
        best_ious(TARGETS[0], GENERATED)


def recall_of_two_images() -> EverythingRecall:
    """Image 1: the three objects above, 2 matched at IoU >= 0.5; image 2: one object, matched, 2 masks."""
    recall = EverythingRecall(points_per_side=32)
    recall.add(SimpleNamespace(seed=0, instance_masks=TARGETS), GENERATED, seconds=2.0)
    counts = SimpleNamespace(candidates=30, removed={"pred_iou_thresh": 20, "stability_score_thresh": 8})
    second = [rectangle(5, 5, 15, 15), rectangle(30, 30, 40, 60)]
    recall.add(SimpleNamespace(seed=1, instance_masks=rectangle(5, 5, 15, 14)[None]), second, 4.0, counts)
    return recall


def test_recall_counts_each_object_once():
    recall = EverythingRecall()
    recall.add(SimpleNamespace(seed=0, instance_masks=TARGETS), GENERATED)
    assert (recall.objects, recall.matched, recall.recall()) == (3, 2, pytest.approx(2 / 3))
    pooled = recall_of_two_images()
    summary = pooled.summary()
    assert (summary["objects"], summary["matched"], summary["recall"]) == (4, 3, pytest.approx(0.75))
    assert summary["mean_best_iou"] == pytest.approx((1.0 + 100 / 150 + 0.4 + 0.9) / 4)  # 90 / 100 in image 2
    assert summary["masks_per_image"] == {"mean": 3.5, "min": 2, "max": 5, "per_image": [5, 2]}
    assert summary["seeds"] == [0, 1] and summary["seconds_per_image_median"] == 3.0
    assert summary["official_settings"] and summary["settings"]["pred_iou_thresh"] == 0.88
    assert summary["filters"] == {"candidates": 30, "removed": {"pred_iou_thresh": 20, "stability_score_thresh": 8}}
    assert EverythingRecall().summary()["recall"] is None  # nothing scored: no number, not 0


def test_report_shows_recall_with_its_target():
    report = AccuracyReport(EvalSettings(prompts=("box",)), "stand-in")
    report.everything = recall_of_two_images()
    record = report_record(report, model={})
    assert record["everything"]["recall"] == pytest.approx(0.75)
    assert record["targets"]["everything_recall"] == {"target": 0.6, "met": True}
    table = markdown_table(report)
    assert "segment everything on 2 images (4 ground-truth objects): points_per_side 32, pred_iou_thresh 0.88" in table
    assert "| objects matched at IoU >= 0.5 (recall) | 0.750 (3 of 4) | >= 0.60 |" in table
    assert "| masks per image | 3.5 mean (min 2, max 5) |  |" in table
    assert "| filters, all images | 30 candidate masks; removed by pred_iou_thresh 20, " in table


# --- the command, on the bundled model ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """2 scenes, 2 correction rounds, segment everything on 1 scene with a 4 x 4 grid; (status, out, err, record)."""
    out = tmp_path_factory.mktemp("eval") / "report"
    argv = ["eval", "--limit", 2, "--clicks", 2, "--everything-images", 1, "--everything-points-per-side", 4]
    status, stdout, stderr = run_cli(*argv, "--out", out)
    record = json.loads((out / "report.json").read_text()) if status == 0 else None
    return status, stdout, stderr, record, (out / "report.md").read_text() if status == 0 else ""


def test_tiny_run_reports_calibration_pairs(tiny_run):
    status, stdout, stderr, record, markdown = tiny_run
    assert status == 0, stderr
    instances = sum(len(scene.kinds) for scene in HeldOutBenchmark(2))
    calibration = record["calibration"]
    assert {name: values["pairs"] for name, values in calibration.items()} == {
        "overall": 6 * instances,
        "point": 3 * instances,
        "box": instances,
        "clicks": 2 * instances,
    }
    assert all(-1.0 <= values["spearman"] <= 1.0 for values in calibration.values())
    line = f"| all predictions | {6 * instances} | {calibration['overall']['spearman']:.3f} | >= 0.60 |"
    assert line in stdout and line in markdown


def test_tiny_run_reports_everything_recall(tiny_run):
    status, stdout, stderr, record, markdown = tiny_run
    assert status == 0, stderr
    everything, scene = record["everything"], HeldOutBenchmark(1)[0]
    assert (everything["images"], everything["seeds"], everything["objects"]) == (1, [0], len(scene.kinds))
    assert everything["filters"]["candidates"] == 4 * 4 * 3  # three masks per prompt
    kept = everything["filters"]["candidates"] - sum(everything["filters"]["removed"].values())
    assert everything["masks_per_image"]["per_image"] == [kept]
    assert everything["matched"] == round(everything["recall"] * everything["objects"])
    assert everything["settings"]["points_per_side"] == 4 and not everything["official_settings"]
    assert "everything_recall" not in record["targets"]  # the target is stated for the official 32 x 32 grid
    assert "segment everything on 1 image (" in stdout and "(not the official grid: the target is for 32)" in markdown
    assert "segment everything on 1 image, 16 prompts each" in stderr
    assert "segmenting everything [##############################] 16/16 prompts\n" in stderr


def test_defaults_agree_with_the_bench_module():
    args = build_parser().parse_args(["eval"])
    assert (args.everything_images, args.everything_points_per_side) == (
        DEFAULT_EVERYTHING_IMAGES,
        OFFICIAL_POINTS_PER_SIDE,
    )


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--everything-images", "-1"], "argument --everything-images: expected an integer >= 0; got '-1'"),
        (["--everything-points-per-side", "0"], "argument --everything-points-per-side: expected an integer >= 1"),
        (["--everything-points-per-side", "65"], "points_per_side 65 makes a grid of 4225 points; accepted: at most"),
    ],
)
def test_bad_everything_options(args, fragment, tmp_path):
    status, stdout, stderr = run_cli("eval", "--model", tmp_path / "missing", *args)  # refused before the model
    assert status == 2 and fragment in stderr and len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "graphs, fragment",
    [
        ((), "has no fp32 encoder graph (*.encoder.fp32.onnx or .xml); found: no graphs"),
        (
            ("nano.encoder.fp32.onnx",),
            "is missing the decoder graph <model>.decoder.fp32.onnx for onnxruntime; re-export the model",
        ),
    ],
)
def test_model_directory_without_the_graphs_is_one_line(graphs, fragment, tmp_path):
    for name in graphs:
        shutil.copy(bundled_model_dir() / name, tmp_path / name)
    status, stdout, stderr = run_cli("eval", "--model", tmp_path, "--limit", 1, "--everything-images", 0)
    assert (status, stdout, stderr) == (2, "", f"sam-edge eval: error: {tmp_path} {fragment}\n")
