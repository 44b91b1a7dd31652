"""Encoder (and, for recipes that change the decoder, 1-point predict) latency of a candidate against
fp32 on the same backend, in the same process and run.

Rounds alternate between the two graphs so that a noisy neighbour slows both alike; the ratio of the
medians is what a recipe is judged by. OpenVINO compiles ``.onnx`` sources directly, so an fp32
reference without IR still runs on the candidate's backend.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from sam_edge.bench.timing import DEFAULT_WARMUP, time_once
from sam_edge.runtime.backends import open_backend, resolve_threads
from sam_edge.runtime.interface import INTERFACES


@dataclass(frozen=True)
class LatencyComparison:
    backend: str
    threads: int
    fp32_ms: tuple[float, ...]
    candidate_ms: tuple[float, ...]

    @property
    def fp32_median_ms(self) -> float:
        return statistics.median(self.fp32_ms)

    @property
    def candidate_median_ms(self) -> float:
        return statistics.median(self.candidate_ms)

    @property
    def speedup(self) -> float:
        """fp32 median / candidate median (> 1: the candidate is faster)."""
        return self.fp32_median_ms / self.candidate_median_ms

    def summary(self) -> dict:
        return {
            "backend": self.backend,
            "threads": self.threads,
            "rounds": len(self.fp32_ms),
            "fp32_median_ms": self.fp32_median_ms,
            "median_ms": self.candidate_median_ms,
            "speedup": self.speedup,
        }


def compare_latency(
    backend: str,
    fp32_graph: Path,
    candidate_graph: Path,
    feed: dict[str, np.ndarray],
    rounds: int,
    threads: int | None = None,
) -> LatencyComparison:
    """Median encoder time of both graphs on ``backend`` with ``rounds`` alternating timed calls each."""
    threads = resolve_threads(threads)
    fp32, candidate = (_runner(backend, path, threads) for path in (fp32_graph, candidate_graph))
    fp32_ms, candidate_ms = _alternating_ms(lambda: fp32(feed), lambda: candidate(feed), rounds)
    return LatencyComparison(backend, threads, fp32_ms, candidate_ms)


def _alternating_ms(fp32: Callable[[], object], candidate: Callable[[], object], rounds: int):
    """(fp32 ms, candidate ms) of ``rounds`` calls each, after warming both up, the two taking turns."""
    for call in (fp32, candidate):
        for _ in range(DEFAULT_WARMUP):
            call()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for call, times in zip((fp32, candidate), samples):
            times.append(time_once(call) * 1e3)
    return tuple(samples[0]), tuple(samples[1])


def _runner(backend: str, path: Path, threads: int) -> Callable[[dict[str, np.ndarray]], object]:
    """The encoder as the runtime opens it (session settings, the graph's own precision: a bf16
    candidate is timed against an fp32 graph that runs in f32); OpenVINO reads an .onnx source too."""
    encoder = open_backend(path, backend, threads, spinning=False, lean_memory=True)
    outputs = INTERFACES[encoder.metadata.part].output_names  # SAM's encoder or SAM 2's
    return lambda feed: encoder.run(outputs, feed)


def compare_predict_latency(
    work: Path, backend: str, precision: str, rgb: np.ndarray, rounds: int, threads: int | None = None
) -> LatencyComparison:
    """Median 1-point ``predict`` (3 masks at full size) with the fp32 and the ``precision`` decoder
    graphs that ``work`` holds side by side, on one embedding, ``rounds`` alternating calls each."""
    from sam_edge.runtime.predictor import SamPredictor

    threads = resolve_threads(threads)
    embedding = SamPredictor(work, backend=backend, precision=precision, threads=threads).set_image(rgb)
    decoders = [
        SamPredictor(work, backend=backend, precision=p, threads=threads, with_encoder=False)
        for p in ("fp32", precision)
    ]
    height, width = rgb.shape[:2]
    point = np.array([[width / 2, height / 2]], np.float32), np.array([1], np.int64)
    for predictor in decoders:
        predictor.set_image_embedding(embedding)
    fp32, candidate = decoders
    fp32_ms, candidate_ms = _alternating_ms(lambda: fp32.predict(*point), lambda: candidate.predict(*point), rounds)
    return LatencyComparison(backend, threads, fp32_ms, candidate_ms)
