"""The I-VT fixation filter: which gaze samples mean "the user is looking at this".

Gaze is mostly saccades; only fixations select an object. I-VT (velocity-threshold identification,
as in Tobii's filter) classifies the step between two consecutive samples by its angular speed:
distance in pixels / ``px_per_degree`` / elapsed seconds. Steps slower than the threshold join the
samples on both sides into one run; a run is a fixation once it spans ``min_fixation_ms`` (last
sample time minus first). A faster step, or a gap longer than ``max_gap_ms`` (lost tracking, a
blink), ends the run; the sample after it starts the next one.

``FixationFilter.add`` reports each fixation once, at the sample that makes it long enough, with
the mean position of its samples so far; the samples after it in the same fixation report nothing.
Times are milliseconds on the client's clock, positions original image pixels. Pure Python, O(1)
memory per filter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.serve.settings import GazeConfig


@dataclass(frozen=True)
class Fixation:
    """One fixation: ``onset_t`` its first sample's time, ``t`` the time of the sample that completed
    it (ms, client clock), ``x``, ``y`` the mean of its samples (pixels), ``samples`` their count."""

    onset_t: float
    t: float
    x: float
    y: float
    samples: int


class FixationFilter:
    """Feed samples in time order with ``add``; a new Fixation comes back once per fixation."""

    def __init__(self, config: GazeConfig | None = None) -> None:
        self.config = config or GazeConfig()
        self.reset()

    def reset(self) -> None:
        """Forget every sample (a new image, a new configuration)."""
        self._last: tuple[float, float, float] | None = None  # (t, x, y) of the previous sample
        self._onset = 0.0
        self._sum_x = self._sum_y = 0.0
        self._count = 0
        self._reported: Fixation | None = None  # the run's fixation, once reported

    @property
    def current(self) -> Fixation | None:
        """The fixation the latest sample belongs to, once it was reported; None during a saccade or
        before the run is long enough."""
        return self._reported

    def add(self, t: float, x: float, y: float) -> Fixation | None:
        """One sample (t ms, x, y pixels); returns the Fixation it completes, else None.

        ``t`` must increase from sample to sample (InvalidInputError otherwise; the filter is unchanged).
        """
        t, x, y = float(t), float(x), float(y)
        if not all(math.isfinite(value) for value in (t, x, y)):
            raise InvalidInputError("gaze t, x and y must be finite numbers")
        if self._last is not None and t <= self._last[0]:
            raise InvalidInputError(f"gaze t must increase from sample to sample; got {t:g} after {self._last[0]:g}")
        if self._last is None or not self._is_slow_step(t, x, y):
            self._start_run(t)
        self._last = (t, x, y)
        self._sum_x += x
        self._sum_y += y
        self._count += 1
        if self._reported is None and t - self._onset >= self.config.min_fixation_ms:
            self._reported = Fixation(self._onset, t, self._sum_x / self._count, self._sum_y / self._count, self._count)
            return self._reported
        return None

    def _is_slow_step(self, t: float, x: float, y: float) -> bool:
        last_t, last_x, last_y = self._last
        elapsed_ms = t - last_t
        if elapsed_ms > self.config.max_gap_ms:
            return False
        degrees = math.hypot(x - last_x, y - last_y) / self.config.px_per_degree
        return degrees * 1000.0 / elapsed_ms < self.config.velocity_threshold_deg_s

    def _start_run(self, t: float) -> None:
        self._onset = t
        self._sum_x = self._sum_y = 0.0
        self._count = 0
        self._reported = None
