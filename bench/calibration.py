"""How well the IoU head ranks its masks: Spearman's rank correlation of predicted vs actual IoU (numpy only).

``sam-edge eval`` pairs every prediction it already makes with its score: the three 1-point multimask
candidates (each candidate's predicted IoU and its actual IoU against the ground truth), the box's
single mask and every correction round's single mask. A head that ranks well lets the automatic mask
generator's ``pred_iou_thresh`` keep the good masks and drop the bad ones; Spearman's rho measures
exactly that ranking (1: the same order, -1: the reverse, 0: none), whatever the scale of the scores.

Ranks are average ranks for ties (as ``scipy.stats.spearmanr``), and rho is Pearson's correlation
of the two rank vectors. It is undefined (NaN; ``None`` in a report) with fewer than two pairs or
when either side is constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sam_edge.runtime.errors import InvalidInputError

CALIBRATION_TARGET = 0.6  # Spearman's rho of predicted vs actual IoU, all prompt kinds pooled
CALIBRATION_KINDS = ("point", "box", "clicks")  # prompt kinds, in report order


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-D array (float64 [N]); tied values all get the mean of the ranks they span."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # first index of each run of equal values
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # mean of ranks starts+1 .. ends
    return ranks


def spearman(predicted, actual) -> float:
    """Spearman's rho of two equally long 1-D sequences of finite numbers; NaN when undefined (module docstring)."""
    predicted, actual = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if predicted.ndim != 1 or predicted.shape != actual.shape:
        raise InvalidInputError(
            f"spearman needs two 1-D arrays of the same length; got shapes {predicted.shape} and {actual.shape}"
        )
    if not (np.isfinite(predicted).all() and np.isfinite(actual).all()):
        raise InvalidInputError("spearman needs finite numbers; got NaN or infinity")
    if len(predicted) < 2:
        return float("nan")
    x, y = average_ranks(predicted), average_ranks(actual)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


@dataclass
class CalibrationPairs:
    """(predicted IoU, actual IoU) pairs per prompt kind, gathered over the images of one eval run."""

    predicted: dict[str, list[float]] = field(default_factory=dict)
    actual: dict[str, list[float]] = field(default_factory=dict)

    def add(self, kind: str, predicted, actual) -> None:
        """Append pairs of ``kind``; ``predicted`` and ``actual`` are arrays of one shape (any, flattened)."""
        predicted, actual = np.asarray(predicted, np.float64).ravel(), np.asarray(actual, np.float64).ravel()
        if predicted.shape != actual.shape:
            raise InvalidInputError(f"{kind}: {predicted.size} predicted IoUs for {actual.size} actual ones")
        self.predicted.setdefault(kind, []).extend(predicted.tolist())
        self.actual.setdefault(kind, []).extend(actual.tolist())

    def extend(self, other: "CalibrationPairs") -> None:
        for kind in other.predicted:
            self.add(kind, other.predicted[kind], other.actual[kind])

    def kinds(self) -> list[str]:
        return [kind for kind in CALIBRATION_KINDS if self.predicted.get(kind)]

    def summary(self) -> dict[str, dict]:
        """{"overall" | kind: {"spearman": rho or None, "pairs": n}}, overall pooling every kind's pairs.

        A pair with a non-finite predicted IoU (a broken graph) is left out and counted in ``non_finite``.
        """
        groups = {kind: (self.predicted[kind], self.actual[kind]) for kind in self.kinds()}
        pooled = ([v for g in groups.values() for v in g[0]], [v for g in groups.values() for v in g[1]])
        result = {}
        for name, (predicted, actual) in {"overall": pooled, **groups}.items():
            predicted, actual = np.asarray(predicted, np.float64), np.asarray(actual, np.float64)
            finite = np.isfinite(predicted) & np.isfinite(actual)
            rho = spearman(predicted[finite], actual[finite])
            result[name] = {
                "spearman": None if np.isnan(rho) else rho,
                "pairs": int(finite.sum()),
                "non_finite": int((~finite).sum()),
            }
        return result
