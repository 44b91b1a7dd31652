"""The latency scenarios as a pytest-benchmark suite (the same callables ``sam-edge bench`` times).

    pytest bench/ --benchmark-only                      # random vit_t (exported once into the cache)
    pytest bench/ --benchmark-only --bench-model DIR    # or SAM_EDGE_BENCH_MODEL=DIR
    pytest bench/ --benchmark-only --benchmark-json out.json

Each reference shares the group of the sam-edge scenario it is the baseline of, so pytest-benchmark's
table compares them directly. The real-time gate (p95 of predict_1_point <= --bench-target-ms) and the
encoder budget (median, per model type) fail their scenario's test when missed.
"""

from __future__ import annotations

import numpy as np
import pytest

from sam_edge.bench.scenarios import ENCODER_SCENARIO, GATED_SCENARIO, SCENARIOS


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_latency(benchmark, bench_context, bench_settings, name):
    scenario, prepare = SCENARIOS[name]
    if scenario.reference in (bench_context.skipped or {}):
        pytest.skip(f"reference {scenario.reference}: {bench_context.skipped[scenario.reference]}")
    benchmark.group = scenario.compares_with or name
    benchmark.extra_info.update(
        what=scenario.what, reference=scenario.reference, model_id=bench_context.predictor.metadata.model_id
    )
    benchmark.pedantic(
        prepare(bench_context),
        rounds=scenario.rounds_for(bench_settings.quick),
        warmup_rounds=scenario.warmup_for(bench_settings.quick),
        iterations=1,
    )
    if benchmark.disabled:  # plain `pytest bench/` (addopts --benchmark-disable): ran once, nothing timed
        return
    samples_ms = np.asarray(benchmark.stats.stats.data) * 1e3
    p50, p95 = float(np.median(samples_ms)), float(np.percentile(samples_ms, 95))
    benchmark.extra_info.update(p95_ms=p95, spread=p95 / p50)
    if name == GATED_SCENARIO:
        assert p95 <= bench_settings.target_ms, (
            f"p95 of {name} is {p95:.1f} ms > target {bench_settings.target_ms:g} ms"
        )
    if name == ENCODER_SCENARIO:
        budget = bench_settings.budget_for(bench_context.predictor.metadata.model_type)
        assert budget is None or p50 <= budget, f"encoder median {p50:.0f} ms > budget {budget:g} ms"
