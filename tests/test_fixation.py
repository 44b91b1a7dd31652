"""The I-VT fixation filter (serve/fixation.py) on synthetic gaze traces whose fixations are known exactly.

Traces sample every 8 ms (125 Hz); at the default 40 px per degree a step of 9.6 px in 8 ms is 30 deg/s.
"""

from __future__ import annotations

import pytest

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.serve.fixation import Fixation, FixationFilter
from sam_edge.serve.settings import GazeConfig


def run(samples, config: GazeConfig | None = None) -> list[tuple[int, Fixation]]:
    """(index of the completing sample, fixation) for every fixation the filter reports."""
    gaze = FixationFilter(config)
    return [(index, found) for index, (t, x, y) in enumerate(samples) if (found := gaze.add(t, x, y)) is not None]


def still(start_t: float, at: tuple[float, float], count: int, dt: float = 8.0):
    return [(start_t + dt * i, at[0], at[1]) for i in range(count)]


def test_two_fixations_with_a_saccade_between():
    first = still(0.0, (100.0, 100.0), 30)  # 0..232 ms
    saccade = [(240.0, 160.0, 100.0), (248.0, 240.0, 100.0), (256.0, 320.0, 100.0)]  # 7.5 px per ms
    second = still(264.0, (360.0, 100.0), 20)  # lands 40 px on: 125 deg/s, a saccade step; 264..416 ms
    found = run(first + saccade + second)
    assert found == [
        (13, Fixation(onset_t=0.0, t=104.0, x=100.0, y=100.0, samples=14)),  # first t with t - onset >= 100
        (46, Fixation(onset_t=264.0, t=368.0, x=360.0, y=100.0, samples=14)),
    ]


def test_the_position_is_the_mean_of_the_run():
    samples = [(8.0 * i, 50.0 + (i % 3), 70.0 - (i % 2)) for i in range(14)]  # drift of 1-2 px: slow
    ((index, fixation),) = run(samples)
    xs, ys = [x for _, x, _ in samples], [y for _, _, y in samples]
    assert index == 13 and (fixation.x, fixation.y) == (sum(xs) / 14, sum(ys) / 14)


def test_the_threshold_is_strict():
    # exactly 30 deg/s between every pair of samples: 9.6 px per 8 ms at 40 px per degree -> no fixation
    at_threshold = [(8.0 * i, 9.6 * i, 0.0) for i in range(40)]
    assert run(at_threshold, GazeConfig(px_per_degree=40.0)) == []
    below = [(8.0 * i, 9.5 * i, 0.0) for i in range(40)]  # a smooth pursuit just under the threshold
    assert [index for index, _ in run(below)] == [13]


def test_a_gap_ends_the_run():
    before = still(0.0, (10.0, 10.0), 10)  # 0..72 ms: not long enough
    after = still(172.0, (10.0, 10.0), 14)  # 100 ms later (> 75 ms gap): a new run from 172 ms
    ((index, fixation),) = run(before + after)
    assert (index, fixation.onset_t, fixation.t, fixation.samples) == (23, 172.0, 276.0, 14)
    # within the gap limit the run goes on across the missing samples
    ((_, bridged),) = run(before + still(140.0, (10.0, 10.0), 5), GazeConfig(max_gap_ms=75.0))
    assert (bridged.onset_t, bridged.t) == (0.0, 140.0)


def test_parameters_move_the_onsets():
    samples = still(0.0, (0.0, 0.0), 40)
    assert [f.t for _, f in run(samples, GazeConfig(min_fixation_ms=200.0))] == [200.0]
    assert [f.t for _, f in run(samples, GazeConfig(min_fixation_ms=0.0))] == [0.0]  # the first sample already
    fast = [(8.0 * i, 4.0 * i, 0.0) for i in range(30)]  # 4 px per 8 ms
    assert run(fast, GazeConfig(px_per_degree=10.0)) == []  # 50 deg/s
    assert [i for i, _ in run(fast, GazeConfig(px_per_degree=40.0))] == [13]  # 12.5 deg/s


def test_current_follows_the_reported_fixation():
    gaze = FixationFilter()
    for t, x, y in still(0.0, (5.0, 5.0), 13):
        gaze.add(t, x, y)
    assert gaze.current is None  # 96 ms: not yet a fixation
    reported = gaze.add(104.0, 5.0, 5.0)
    assert gaze.current is reported and gaze.add(112.0, 5.0, 5.0) is None and gaze.current is reported
    gaze.add(120.0, 200.0, 5.0)  # a saccade step
    assert gaze.current is None
    gaze.reset()
    assert gaze.current is None and gaze.add(0.0, 1.0, 1.0) is None  # time starts over after reset


def test_bad_samples_leave_the_filter_unchanged():
    gaze = FixationFilter()
    gaze.add(10.0, 1.0, 1.0)
    with pytest.raises(InvalidInputError, match="^gaze t must increase from sample to sample; got 10 after 10$"):
        gaze.add(10.0, 1.0, 1.0)
    with pytest.raises(InvalidInputError, match="^gaze t, x and y must be finite numbers$"):
        gaze.add(18.0, float("nan"), 1.0)
    found = [gaze.add(t, x, y) for t, x, y in still(18.0, (1.0, 1.0), 13)]  # 18..114 ms, the run from 10 ms
    assert found[:-1] == [None] * 12 and found[-1] == Fixation(onset_t=10.0, t=114.0, x=1.0, y=1.0, samples=14)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("velocity_threshold_deg_s", 0.0, "velocity_threshold_deg_s must be a number within 0.001..10000; got 0.0"),
        ("px_per_degree", float("nan"), "px_per_degree must be a number within 0.001..100000; got nan"),
        ("min_fixation_ms", -1.0, "min_fixation_ms must be a number within 0..10000; got -1.0"),
        ("max_gap_ms", True, "max_gap_ms must be a number within 1..10000; got True"),
    ],
)
def test_config_is_checked(field, value, message):
    with pytest.raises(InvalidInputError) as error:
        GazeConfig(**{field: value})
    assert str(error.value) == message
