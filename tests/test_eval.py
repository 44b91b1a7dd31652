"""`sam-edge eval`: click simulation, the metric with a perfect stand-in predictor, reports and bad input."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from cli_runner import run_cli
from PIL import Image

from sam_edge.bench.accuracy import AccuracyReport, EvalSettings, evaluate_scene, mask_iou, tight_boxes
from sam_edge.bench.clicks import correction_click, deepest_point
from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.predictor import Prediction
from sam_edge.scenes import HeldOutBenchmark

YY, XX = np.mgrid[:300, :400]
RADIUS = np.hypot(XX - 200, YY - 150)  # distance from (x, y) = (200, 150)


# --- where the simulated annotator clicks -------------------------------------------------------


def test_deepest_point_of_a_disc_is_its_centre():
    x, y, depth = deepest_point(RADIUS < 80)
    assert abs(x - 200) <= 3 and abs(y - 150) <= 3
    assert 60 <= depth <= 85  # approximate: octagonal metric on a conservatively shrunk grid


def test_deepest_point_of_a_ring_is_on_the_band_not_in_the_hole():
    ring = (RADIUS > 50) & (RADIUS < 110)
    x, y, depth = deepest_point(ring)
    assert ring[y, x] and 70 <= RADIUS[y, x] <= 90  # mid-line of the band is at 80
    assert 20 <= depth <= 32


def test_deepest_point_of_an_l_shape_is_inside_its_corner():
    shape = np.zeros((300, 400), bool)
    shape[20:280, 20:80] = True  # vertical bar
    shape[220:280, 20:380] = True  # horizontal bar
    x, y, _ = deepest_point(shape)
    assert shape[y, x] and x < 100 and y > 200


def test_deepest_point_of_thin_and_border_regions():
    line = np.zeros((600, 900), bool)
    line[300:302, 10:890] = True  # 2 px wide, far wider than the coarse grid's cells
    x, y, _ = deepest_point(line)
    assert line[y, x]
    cut = (RADIUS < 100)[:, :250]  # a disc cut by the image's right border: the border is a boundary too
    x, y, _ = deepest_point(cut)
    assert cut[y, x] and x < 240
    with pytest.raises(InvalidInputError, match="non-empty"):
        deepest_point(np.zeros((10, 10), bool))


def test_deepest_point_is_inside_every_benchmark_instance():
    scene = HeldOutBenchmark(1)[0]
    points = [deepest_point(mask) for mask in scene.instance_masks]
    assert all(mask[y, x] for mask, (x, y, _) in zip(scene.instance_masks, points))


def test_correction_click_labels():
    target = RADIUS < 80
    missed = target & ~(XX > 230)  # prediction lost the right part of the disc
    click = correction_click(missed, target)
    assert click.label == 1 and target[click.y, click.x] and not missed[click.y, click.x]
    spilled = target | (np.hypot(XX - 340, YY - 150) < 40)  # prediction leaked onto a second blob
    click = correction_click(spilled, target)
    assert click.label == 0 and spilled[click.y, click.x] and not target[click.y, click.x]
    click = correction_click(target, target)  # no error: a confirming foreground click
    assert click.label == 1 and target[click.y, click.x]


def test_correction_click_prefers_a_deep_error_over_a_long_sliver():
    target = RADIUS < 80
    predicted = (RADIUS < 83) & ~(np.hypot(XX - 200, YY - 150) < 25)  # 3 px spill ring (large area) + missed core
    click = correction_click(predicted, target)
    assert click.label == 1 and RADIUS[click.y, click.x] < 25


# --- the metric and protocol with a perfect stand-in predictor ----------------------------------


class GroundTruthPredictor:
    """Answers every prompt with the ground-truth mask of the instance under the first click (or the box).

    Multimask output: [truth, empty, truth] with ``scores``, so the top-scored choice is testable.
    """

    metadata = SimpleNamespace(model_id="ground-truth")

    def __init__(self, scene, scores=(0.9, 0.1, 0.5)) -> None:
        self.scene, self.scores, self.boxes = scene, np.array(scores, np.float32), tight_boxes(scene.instance_masks)
        self.instance_map = scene.instance_map()

    def set_image(self, image) -> None:
        assert image is self.scene.image

    def predict_batch(self, point_coords=None, point_labels=None, boxes=None, mask_input=None, multimask_output=True):
        if boxes is not None:
            instances = [int(np.flatnonzero((self.boxes == box).all(axis=1))[0]) for box in boxes]
        else:
            assert (point_labels[:, 0] == 1).all() and (mask_input is None) == (point_coords.shape[1] == 1)
            instances = [self.instance_map[int(y), int(x)] - 1 for x, y in point_coords[:, 0]]
        truth = self.scene.instance_masks[instances]  # [B, H, W]
        masks = np.stack([truth, np.zeros_like(truth), truth], axis=1) if multimask_output else truth[:, None]
        scores = np.tile(self.scores if multimask_output else self.scores[:1], (len(truth), 1))
        logits = np.zeros(masks.shape[:2] + (256, 256), np.float32)
        return Prediction(masks, scores, logits)


def test_mask_iou():
    a = np.zeros((2, 4, 4), bool)
    a[0, :2], a[1, :, :1] = True, True
    b = a.copy()
    b[1] = False
    b[1, 0, 0] = True
    np.testing.assert_allclose(mask_iou(a, b), [1.0, 0.25])
    assert mask_iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


def test_perfect_predictor_scores_one():
    scene = HeldOutBenchmark(1)[0]
    settings = EvalSettings(clicks=2, batch=5)
    report = AccuracyReport(settings, "ground-truth")
    report.add(scene, evaluate_scene(GroundTruthPredictor(scene), scene, settings, keep=(0,)))
    assert report.miou() == {name: 1.0 for name in ("point", "point_oracle", "box", "clicks_1", "clicks_2")}
    assert report.instances == len(scene.kinds) and report.images == 1
    assert [e.metric for e in report.examples] == ["point", "box", "clicks_2"]
    assert report.examples[2].point_coords.shape == (3, 2)


def test_top_scored_is_not_the_oracle():
    scene = HeldOutBenchmark(1)[0]
    settings = EvalSettings(prompts=("point",))
    result = evaluate_scene(GroundTruthPredictor(scene, scores=(0.2, 0.9, 0.5)), scene, settings)
    assert set(result.ious) == {"point", "point_oracle"}
    assert result.ious["point"].max() == 0.0 and result.ious["point_oracle"].min() == 1.0


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"prompts": ("point", "lasso")}, "accepted: point, box, clicks"),
        ({"clicks": 0}, "clicks must be"),
        ({"limit": 0}, "limit must be"),
    ],
)
def test_bad_settings(kwargs, fragment):
    from sam_edge.bench import accuracy
    from sam_edge.commands import eval_cmd

    assert eval_cmd.PROMPT_KINDS == accuracy.PROMPT_KINDS
    with pytest.raises(InvalidInputError, match=fragment):
        EvalSettings(**kwargs)


# --- the command -----------------------------------------------------------------------------------


def test_eval_writes_reports(exported_golden_model, tmp_path):
    out = tmp_path / "report"
    options = ("--limit", 2, "--clicks", 1, "--everything-images", 0)  # segment everything: test_eval_everything
    status, stdout, stderr = run_cli("eval", "--model", exported_golden_model("vit_small"), *options, "--out", out)
    assert status == 0, stderr
    record = json.loads((out / "report.json").read_text())
    assert {
        "model_id",
        "benchmark",
        "settings",
        "miou",
        "targets",
        "miou_by_kind",
        "timing_s_per_image",
        "model",
    } <= set(record)
    assert list(record["miou"]) == ["point", "point_oracle", "box", "clicks_1"]
    assert all(0.0 <= value <= 1.0 for value in record["miou"].values())
    assert record["miou"]["point_oracle"] >= record["miou"]["point"]
    assert record["benchmark"]["images"] == 2
    assert record["benchmark"]["instances"] == sum(len(scene.kinds) for scene in HeldOutBenchmark(2))
    assert record["model"]["model_type"] and record["timing_s_per_image"]["total_s_mean"] > 0
    assert "| 1 box (tight) |" in stdout and "| 1 box (tight) |" in (out / "report.md").read_text()
    assert "[2/2]" in stderr
    with Image.open(out / "examples.png") as grid:
        assert grid.width == 3 * 256 and grid.height >= 256


def _graph_without_metadata(path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["image_embeddings"])],
        "bare",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--prompts", "point,lasso"], "unknown prompt kind(s) 'lasso'; accepted: point, box, clicks"),
        (["--prompts", ","], "no prompt kind given; accepted: point, box, clicks"),
        (["--limit", "0"], "--limit: expected an integer >= 1"),
        (["--clicks", "0"], "--clicks: expected an integer >= 1"),
    ],
)
def test_bad_arguments(args, fragment):
    status, stdout, stderr = run_cli("eval", *args)
    assert status == 2 and fragment in stderr and len(stderr.strip().splitlines()) == 1


def test_model_without_metadata(tmp_path):
    for part in ("encoder", "decoder"):
        _graph_without_metadata(tmp_path / f"bare.{part}.fp32.onnx")
    status, stdout, stderr = run_cli("eval", "--model", tmp_path, "--limit", 1)
    assert status == 2 and len(stderr.strip().splitlines()) == 1
    assert "has no sam_edge metadata" in stderr and "sam-edge export" in stderr


def test_out_is_a_file_fails_before_any_work(tmp_path):
    (tmp_path / "taken").write_text("x")
    status, stdout, stderr = run_cli("eval", "--model", tmp_path / "missing", "--out", tmp_path / "taken")
    assert status == 2 and "is a file" in stderr
