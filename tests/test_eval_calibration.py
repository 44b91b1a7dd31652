"""`sam-edge eval`'s IoU-head calibration: Spearman's rho against scipy, the pairs each protocol adds, the report."""

from __future__ import annotations

import numpy as np
import pytest
from test_eval import GroundTruthPredictor

from sam_edge.bench.accuracy import AccuracyReport, EvalSettings, evaluate_scene
from sam_edge.bench.calibration import CalibrationPairs, average_ranks, spearman
from sam_edge.bench.eval_report import markdown_table, report_record
from sam_edge.runtime.errors import InvalidInputError
from sam_edge.scenes import HeldOutBenchmark


def test_average_ranks_share_the_mean_rank_among_ties():
    np.testing.assert_array_equal(average_ranks(np.array([0.5, 0.1, 0.5, 0.9, 0.5])), [3.0, 1.0, 3.0, 5.0, 3.0])
    np.testing.assert_array_equal(average_ranks(np.array([2.0, 2.0])), [1.5, 1.5])


@pytest.mark.parametrize("seed", range(4))
def test_spearman_matches_scipy_on_random_data_with_ties(seed):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    size = int(rng.integers(5, 400))
    predicted = np.round(rng.random(size), 1)  # ~11 distinct values: many ties
    actual = np.round(0.5 * predicted + 0.5 * rng.random(size), 2)
    assert len(np.unique(predicted)) < size and len(np.unique(actual)) < size
    expected = stats.spearmanr(predicted, actual).statistic
    assert spearman(predicted, actual) == pytest.approx(expected, abs=1e-12)


def test_spearman_of_a_perfect_and_an_inverse_ranking():
    predicted = np.array([0.1, 0.4, 0.35, 0.9, 0.2])
    actual = predicted**3  # a monotone transform: the same order, different values
    assert spearman(predicted, actual) == pytest.approx(1.0, abs=1e-12)
    assert spearman(predicted, -actual) == pytest.approx(-1.0, abs=1e-12)
    assert spearman([1.0, 2.0, 3.0], [0.3, 0.2, 0.1]) == pytest.approx(-1.0, abs=1e-12)


def test_spearman_is_undefined_for_fewer_than_two_pairs_or_a_constant_side():
    assert np.isnan(spearman([], []))
    assert np.isnan(spearman([0.5], [0.2]))
    assert np.isnan(spearman([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]))


@pytest.mark.parametrize(
    "predicted, actual, fragment",
    [
        ([0.1, 0.2], [0.1], "two 1-D arrays of the same length; got shapes (2,) and (1,)"),
        ([[0.1, 0.2]], [[0.1, 0.2]], "got shapes (1, 2) and (1, 2)"),
        ([0.1, float("nan")], [0.1, 0.2], "finite numbers"),
    ],
)
def test_spearman_refuses_bad_input(predicted, actual, fragment):
    with pytest.raises(InvalidInputError) as error:
        spearman(predicted, actual)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_summary_pools_every_kind_and_leaves_out_non_finite_scores():
    pairs = CalibrationPairs()
    pairs.add("box", [0.2, 0.4, 0.6], [0.1, 0.3, 0.2])
    pairs.add("point", [[0.9, 0.1, float("nan")]], [[1.0, 0.0, 0.5]])
    summary = pairs.summary()
    assert list(summary) == ["overall", "point", "box"]  # report order, not insertion order
    assert summary["point"] == {"spearman": pytest.approx(1.0), "pairs": 2, "non_finite": 1}
    assert summary["box"] == {"spearman": pytest.approx(0.5), "pairs": 3, "non_finite": 0}
    assert summary["overall"]["pairs"] == 5 and summary["overall"]["non_finite"] == 1
    pooled = spearman([0.9, 0.1, 0.2, 0.4, 0.6], [1.0, 0.0, 0.1, 0.3, 0.2])
    assert summary["overall"]["spearman"] == pytest.approx(pooled)
    with pytest.raises(InvalidInputError, match="box: 2 predicted IoUs for 1 actual ones"):
        pairs.add("box", [0.1, 0.2], [0.3])


# --- the pairs each protocol contributes (the perfect stand-in predictor of test_eval) ------------------


@pytest.fixture(scope="module")
def stand_in_report() -> AccuracyReport:
    """Two scenes through every protocol with 2 correction rounds; scores (0.9, 0.1, 0.5) for [truth, empty, truth]."""
    settings = EvalSettings(clicks=2, batch=5)
    report = AccuracyReport(settings, "ground-truth")
    for scene in HeldOutBenchmark(2):
        report.add(scene, evaluate_scene(GroundTruthPredictor(scene), scene, settings))
    return report


def test_every_prediction_made_is_one_pair(stand_in_report):
    instances = stand_in_report.instances
    pairs = stand_in_report.calibration
    assert {kind: len(pairs.predicted[kind]) for kind in pairs.kinds()} == {
        "point": 3 * instances,  # all three candidates
        "box": instances,
        "clicks": 2 * instances,  # one per round
    }
    point = np.array(pairs.predicted["point"]).reshape(instances, 3), np.array(pairs.actual["point"]).reshape(-1, 3)
    np.testing.assert_allclose(point[0], np.tile([0.9, 0.1, 0.5], (instances, 1)), rtol=1e-6)
    np.testing.assert_array_equal(point[1], np.tile([1.0, 0.0, 1.0], (instances, 1)))  # truth, empty, truth
    assert set(pairs.actual["box"]) == set(pairs.actual["clicks"]) == {1.0}


def test_report_holds_the_calibration_with_its_target(stand_in_report):
    stats = pytest.importorskip("scipy.stats")
    instances = stand_in_report.instances
    record = report_record(stand_in_report, model={})
    calibration = record["calibration"]
    assert {name: values["pairs"] for name, values in calibration.items()} == {
        "overall": 6 * instances,
        "point": 3 * instances,
        "box": instances,
        "clicks": 2 * instances,
    }
    pairs = stand_in_report.calibration
    predicted = sum((pairs.predicted[kind] for kind in ("point", "box", "clicks")), [])
    actual = sum((pairs.actual[kind] for kind in ("point", "box", "clicks")), [])
    rho = stats.spearmanr(predicted, actual).statistic
    assert calibration["overall"]["spearman"] == pytest.approx(rho, abs=1e-12) and rho > 0.6
    assert calibration["box"]["spearman"] is None  # every box scored 0.9 with IoU 1: no ranking to measure
    assert record["targets"]["calibration_spearman"] == {"target": 0.6, "met": True}
    assert "everything" not in record and "everything_recall" not in record["targets"]  # it did not run
    table = markdown_table(stand_in_report)
    assert f"| all predictions | {6 * instances} | {rho:.3f} | >= 0.60 |" in table
    assert f"| 1 point, each of the 3 candidates | {3 * instances} |" in table
    assert f"| 1 box (tight) | {instances} | - |  |" in table
    assert "segment everything" not in table
