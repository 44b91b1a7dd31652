"""pytest-benchmark suite setup: ``pytest bench/ --benchmark-only``.

The model: ``--bench-model DIR`` or $SAM_EDGE_BENCH_MODEL, else random-weight vit_t exported once into
the cache (see sam_edge.bench.models). ``--bench-quick`` / $SAM_EDGE_BENCH_QUICK=1 uses the quick rounds;
``--bench-target-ms`` / $SAM_EDGE_BENCH_TARGET_MS sets the real-time gate (default 50).

pyproject's addopts carry ``--benchmark-disable`` (unit tests never time anything), and pytest-benchmark
refuses ``--benchmark-only`` together with it; asking for ``--benchmark-only`` here re-enables benchmarks.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("sam-edge bench")
    group.addoption(
        "--bench-model",
        default=os.environ.get("SAM_EDGE_BENCH_MODEL"),
        metavar="DIR",
        help="exported model directory (default: $SAM_EDGE_BENCH_MODEL, else random vit_t in the cache)",
    )
    group.addoption(
        "--bench-quick",
        action="store_true",
        default=os.environ.get("SAM_EDGE_BENCH_QUICK") == "1",
        help="quick rounds (proves the suite works; does not judge speed)",
    )
    group.addoption(
        "--bench-target-ms",
        type=float,
        default=float(os.environ.get("SAM_EDGE_BENCH_TARGET_MS", "50")),
        help="p95 limit of 1-point predict in ms (default 50)",
    )
    group.addoption("--bench-threads", type=int, default=None, help="CPU threads (default: physical cores)")


def pytest_configure(config):
    """Runs before pytest-benchmark's own (trylast) configure, so the session sees benchmarks enabled."""
    if config.getoption("benchmark_only", default=False):
        config.option.benchmark_enable = True


@pytest.fixture(scope="session")
def bench_settings(request):
    from sam_edge.bench.runner import BenchSettings

    return BenchSettings(
        quick=request.config.getoption("bench_quick"),
        target_ms=request.config.getoption("bench_target_ms"),
        threads=request.config.getoption("bench_threads"),
    )


@pytest.fixture(scope="session")
def bench_context(request, bench_settings):
    """The predictor with the benchmark image set, plus every reference that loads (others skip)."""
    from pathlib import Path

    from sam_edge.bench.models import random_model_dir
    from sam_edge.bench.runner import build_context
    from sam_edge.bench.scenarios import REFERENCES
    from sam_edge.runtime.backends import resolve_threads

    model = request.config.getoption("bench_model")
    model_dir = Path(model) if model else random_model_dir("vit_t")
    return build_context(model_dir, bench_settings, resolve_threads(bench_settings.threads), set(REFERENCES))
