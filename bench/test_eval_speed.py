"""The eval protocol's own cost, as a pytest-benchmark (``pytest bench/ --benchmark-only``).

``sam-edge eval`` places each instance's first click at its deepest point (a distance transform per
ground-truth mask); on the 300-image benchmark that runs ~4,000 times, so it must stay far below the
decoder's per-prompt cost: <= 10 ms per instance.
"""

from __future__ import annotations

import pytest

from sam_edge.bench.clicks import deepest_point
from sam_edge.scenes import HeldOutBenchmark

MAX_MS_PER_INSTANCE = 10.0


@pytest.fixture(scope="module")
def instance_masks():
    return HeldOutBenchmark(1)[0].instance_masks


def test_deepest_point_per_instance(benchmark, instance_masks):
    benchmark.group = "eval protocol"
    benchmark.pedantic(
        lambda: [deepest_point(mask) for mask in instance_masks], rounds=10, warmup_rounds=1, iterations=1
    )
    if benchmark.disabled:  # plain `pytest bench/`: ran once, nothing timed
        return
    per_instance_ms = benchmark.stats.stats.median * 1e3 / len(instance_masks)
    benchmark.extra_info.update(ms_per_instance=per_instance_ms)
    assert per_instance_ms <= MAX_MS_PER_INSTANCE, f"{per_instance_ms:.1f} ms per instance > {MAX_MS_PER_INSTANCE} ms"
