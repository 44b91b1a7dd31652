"""Encoder latency of a candidate against fp32 on the same backend, in the same process and run.

Rounds alternate between the two graphs so that a noisy neighbour slows both alike; the ratio of the
medians is what a recipe is judged by. OpenVINO compiles ``.onnx`` sources directly, so an fp32
reference without IR still runs on the candidate's backend.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from sam_edge.runtime.backends import OnnxRuntimeBackend, read_graph_metadata, resolve_threads

WARMUP_ROUNDS = 2  # onnxruntime's second call is still ~1.5x slow after one warm-up


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
        return {"backend": self.backend, "threads": self.threads, "rounds": len(self.fp32_ms),
                "fp32_median_ms": self.fp32_median_ms, "median_ms": self.candidate_median_ms, "speedup": self.speedup}


def compare_latency(backend: str, fp32_graph: Path, candidate_graph: Path, feed: dict[str, np.ndarray],
                    rounds: int, threads: int | None = None) -> LatencyComparison:
    """Median encoder time of both graphs on ``backend`` with ``rounds`` alternating timed calls each."""
    threads = resolve_threads(threads)
    runners = [_runner(backend, path, threads) for path in (fp32_graph, candidate_graph)]
    for run in runners:
        for _ in range(WARMUP_ROUNDS):
            run(feed)
    samples: list[list[float]] = [[], []]
    for _ in range(rounds):
        for run, times in zip(runners, samples):
            started = time.perf_counter()
            run(feed)
            times.append((time.perf_counter() - started) * 1e3)
    return LatencyComparison(backend, threads, tuple(samples[0]), tuple(samples[1]))


def _runner(backend: str, path: Path, threads: int) -> Callable[[dict[str, np.ndarray]], object]:
    if backend == "onnxruntime":  # the session settings the runtime gives encoders
        session = OnnxRuntimeBackend(path, threads, spinning=False, lean_memory=True).session
        return lambda feed: session.run(None, feed)
    from sam_edge.runtime.openvino_backend import compile_openvino

    # compiled directly (the fp32 source may be an .onnx file without IR), as the runtime compiles
    # it: in the graph's own precision, so a bf16 candidate is timed against an fp32 that is f32
    request = compile_openvino(path, read_graph_metadata(path).precision, threads).create_infer_request()
    return request.infer
