"""The one timer: warm-up calls, then timed calls with ``time.perf_counter``; medians and p95 from them.

Every measurement sam-edge makes goes through here: the bench scenarios, the roofline's peaks, the
engine record (``sam-edge backends``, export) and quantize's fp32-vs-candidate comparison. Two
untimed calls by default, since onnxruntime's second call is still ~1.5x slow after a single one.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

DEFAULT_WARMUP = 2


def time_once(call: Callable[[], object]) -> float:
    """Seconds one call of ``call`` takes."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def time_calls(call: Callable[[], object], rounds: int, warmup: int = DEFAULT_WARMUP) -> list[float]:
    """Seconds per call for ``rounds`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    return [time_once(call) for _ in range(rounds)]


def median_seconds(call: Callable[[], object], rounds: int, warmup: int = DEFAULT_WARMUP) -> float:
    return statistics.median(time_calls(call, rounds, warmup))


def best_seconds(call: Callable[[], object], rounds: int, warmup: int = DEFAULT_WARMUP) -> float:
    """The fastest of ``rounds`` calls: what the machine can attain, for peaks (medians are for scenarios)."""
    return min(time_calls(call, rounds, warmup))


def median_ms(call: Callable[[], object], rounds: int, warmup: int = DEFAULT_WARMUP) -> float:
    return median_seconds(call, rounds, warmup) * 1e3
