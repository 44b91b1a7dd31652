"""Run the benchmark scenarios on one model and judge the targets.

For each scenario: warm up (>= 2 untimed calls; 1 in quick mode), then time ``rounds`` calls with
``time.perf_counter``. Per scenario: median, p95, max, the p95/p50 spread (a noisy run shows), and
for sam-edge scenarios the ratio to each reference measured in the same run
(``reference median / our median``: > 1 means sam-edge is faster). Threads are pinned once for the
runtime, PyTorch and the official decoder alike, and reported.

Targets: the p95 of ``predict_1_point`` (public API, full-resolution masks) <= ``target_ms``, and the
encoder's median <= its budget (per model type; ``DEFAULT_ENCODER_BUDGET_MS`` or the caller's).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from sam_edge.runtime.cpu import cpu_model, isa_summary
from sam_edge.runtime.errors import InvalidInputError

from .machine import machine_info, peak_rss_child
from .references import ReferenceSkipped, load_references
from .scenarios import ENCODER_SCENARIO, GATED_SCENARIO, REFERENCES, SCENARIOS, BenchContext, image_size, make_image
from .timing import time_calls

DEFAULT_TARGET_MS = 50.0
# Plain onnxruntime fp32 medians on the 2-core AVX2 reference machine (vit_b 9.0 s, vit_t 0.89 s)
# plus 10%: a regression guard that run-to-run noise (p95/p50 up to ~1.05 there) does not trip;
# nano: its own target (<= 150 ms, docs/training.md). Models without an entry are measured but not gated.
DEFAULT_ENCODER_BUDGET_MS = {"vit_b": 10000.0, "vit_t": 1000.0, "nano": 150.0}


@dataclass(frozen=True)
class BenchSettings:
    """What to run and what to demand. ``scenarios`` None = all; ``encoder_budget_ms`` as a number
    applies to every model."""

    backend: str | None = None
    threads: int | None = None
    quick: bool = False
    target_ms: float = DEFAULT_TARGET_MS
    encoder_budget_ms: float | dict | None = None
    scenarios: tuple[str, ...] | None = None
    checkpoint: str | None = None
    measure_rss: bool = True
    roofline: bool = True  # measure this CPU's peaks and each roofline scenario's floor (bench/floors.py)
    # Time both engines first when the model has no measurement for this CPU, and record it beside the
    # graphs (bench/engine_choice.ensure_measured_here); `sam-edge bench` does, library calls opt in.
    choose_engines: bool = False

    def __post_init__(self) -> None:
        check_positive(self.target_ms, "target")
        budgets = (
            self.encoder_budget_ms.values() if isinstance(self.encoder_budget_ms, dict) else [self.encoder_budget_ms]
        )
        for budget in budgets:
            if budget is not None:
                check_positive(budget, "encoder budget")
        if self.scenarios is not None:
            check_scenario_names(self.scenarios)

    def budget_for(self, model_type: str) -> float | None:
        if isinstance(self.encoder_budget_ms, dict):
            return self.encoder_budget_ms.get(model_type, DEFAULT_ENCODER_BUDGET_MS.get(model_type))
        return (
            self.encoder_budget_ms if self.encoder_budget_ms is not None else DEFAULT_ENCODER_BUDGET_MS.get(model_type)
        )


def check_positive(value, what: str) -> float:
    """A finite number > 0 (milliseconds), else a one-line InvalidInputError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number) or number <= 0:
        raise InvalidInputError(f"{what} must be a positive number of milliseconds; got {value!r}")
    return number


def check_scenario_names(names) -> None:
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names:
        got = f"unknown scenario(s) {', '.join(map(repr, unknown))}" if unknown else "no scenario given"
        raise InvalidInputError(f"{got}; accepted: {', '.join(SCENARIOS)}")


@dataclass
class ScenarioResult:
    """Samples (seconds) of one scenario, or the reason it was skipped."""

    name: str
    what: str
    group: str
    reference: str | None
    compares_with: str | None
    samples: list[float] = field(default_factory=list)
    skipped: str | None = None
    ratios: dict = field(default_factory=dict)  # reference -> reference median / our median

    def stats(self) -> dict:
        return sample_stats(self.samples)


@dataclass
class BenchReport:
    """Everything one model's run produced."""

    model: dict
    settings: BenchSettings
    machine: dict
    results: list[ScenarioResult]
    memory: dict
    targets: list[dict]
    roofline: dict = field(default_factory=dict)  # {"peaks": ..., "scenarios": {name: floor record}} or {"skipped"}

    @property
    def passed(self) -> bool:
        return all(target["met"] for target in self.targets)


def sample_stats(samples: list[float]) -> dict:
    """min, max, mean, stddev, median, q1, q3, iqr, p95 (seconds), spread (p95 / p50), rounds, ops."""
    data = np.asarray(samples, dtype=np.float64)
    if data.size == 0:
        return {"rounds": 0}
    median, p95 = float(np.median(data)), float(np.percentile(data, 95))
    q1, q3 = (float(v) for v in np.percentile(data, [25, 75]))
    return {
        "min": float(data.min()),
        "max": float(data.max()),
        "mean": float(data.mean()),
        "stddev": float(data.std(ddof=1)) if data.size > 1 else 0.0,
        "median": median,
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        "p95": p95,
        "spread": p95 / median if median > 0 else float("nan"),
        "rounds": int(data.size),
        "total": float(data.sum()),
        "ops": 1.0 / float(data.mean()),
    }


def build_context(model_dir: Path, settings: BenchSettings, threads: int, wanted: set[str]) -> BenchContext:
    """A predictor (no embedding cache) with the test image set, plus the references that load."""
    from sam_edge.runtime.predictor import SamPredictor

    predictor = SamPredictor(model_dir, backend=settings.backend, threads=threads, cache_size=0)
    image = make_image(image_size(settings.quick))
    predictor.set_image(image)
    loaded, skipped = load_references(predictor, threads, {r for r in REFERENCES if r in wanted}, settings.checkpoint)
    for name in ("torch", "official_package"):
        if loaded.get(name) is not None:
            loaded[name].set_image(image)
    return BenchContext(
        predictor, image, loaded.get("torch"), loaded.get("official_onnx"), loaded.get("official_package"), skipped
    )


def run_scenario(name: str, ctx: BenchContext, quick: bool, progress: Callable[[str], None]) -> ScenarioResult:
    scenario, prepare = SCENARIOS[name]
    result = ScenarioResult(name, scenario.what, scenario.group, scenario.reference, scenario.compares_with)
    if scenario.reference is not None and scenario.reference in (ctx.skipped or {}):
        result.skipped = ctx.skipped[scenario.reference]
        return result
    try:
        call = prepare(ctx)
    except ReferenceSkipped as reason:  # a reference that does not apply to this model
        result.skipped = str(reason)
        progress(f"  {name:32s} skipped: {reason}")
        return result
    result.samples = time_calls(call, scenario.rounds_for(quick), scenario.warmup_for(quick))
    _set_images_again(ctx)
    stats = result.stats()
    progress(
        f"  {name:32s} median {stats['median'] * 1e3:9.2f} ms  p95 {stats['p95'] * 1e3:9.2f} ms  ({stats['rounds']} "
        "rounds)"
    )
    return result


def _set_images_again(ctx: BenchContext) -> None:
    """Segment everything resets its predictor's image at the end (as the official generator does):
    set the bench image again, so that any scenario after it, and the roofline, find it set."""
    if not ctx.predictor.is_image_set:
        ctx.predictor.set_image(ctx.image)
    torch_predictor = ctx.torch_predictor
    if torch_predictor is not None and not torch_predictor.is_image_set:
        torch_predictor.set_image(ctx.image)


def attach_ratios(results: list[ScenarioResult]) -> None:
    """Each sam-edge scenario gets reference median / its median for every reference that ran for it."""
    ours = {r.name: r for r in results if r.reference is None and r.samples}
    for reference in (r for r in results if r.reference is not None and r.samples):
        target = ours.get(reference.compares_with)
        if target is not None:
            target.ratios[reference.reference] = reference.stats()["median"] / target.stats()["median"]


def judge_targets(results: list[ScenarioResult], settings: BenchSettings, model_type: str) -> list[dict]:
    """The real-time gate (p95 of predict_1_point) and the encoder budget (median), each met or not."""
    by_name = {r.name: r for r in results if r.samples}
    targets = []
    if GATED_SCENARIO in by_name:
        p95_ms = by_name[GATED_SCENARIO].stats()["p95"] * 1e3
        targets.append(
            {
                "name": f"{GATED_SCENARIO} p95",
                "value_ms": p95_ms,
                "limit_ms": settings.target_ms,
                "met": p95_ms <= settings.target_ms,
            }
        )
    budget = settings.budget_for(model_type)
    if ENCODER_SCENARIO in by_name and budget is not None:
        median_ms = by_name[ENCODER_SCENARIO].stats()["median"] * 1e3
        targets.append(
            {
                "name": f"{ENCODER_SCENARIO} median ({model_type})",
                "value_ms": median_ms,
                "limit_ms": budget,
                "met": median_ms <= budget,
            }
        )
    return targets


def run_benchmarks(
    model_dir: str | Path, settings: BenchSettings, progress: Callable[[str], None] | None = None
) -> BenchReport:
    """All selected scenarios on one model directory, references in the same run, targets judged."""
    from sam_edge.bench.engine_choice import ensure_measured_here
    from sam_edge.bench.eval_report import describe_predictor, engines_text
    from sam_edge.runtime.backends import resolve_threads

    progress = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    threads = resolve_threads(settings.threads)
    names = list(settings.scenarios or SCENARIOS)
    wanted = {SCENARIOS[name][0].reference for name in names}
    if settings.backend is None and settings.choose_engines:
        ensure_measured_here(Path(model_dir), threads, progress)
    ctx = build_context(Path(model_dir), settings, threads, wanted)
    model = describe_predictor(ctx.predictor)
    quick = ", quick" if settings.quick else ""
    progress(f"benchmarking {model['model_id']} ({engines_text(model)}, {threads} threads{quick})")
    progress(
        f"  executes on {cpu_model()} ({isa_summary()}): "
        + "; ".join(f"{part} {what}" for part, what in model["executes"].items())
    )
    for reference, reason in (ctx.skipped or {}).items():
        progress(f"  reference {reference} skipped: {reason}")
    results = [run_scenario(name, ctx, settings.quick, progress) for name in names]
    attach_ratios(results)
    memory = (
        peak_rss_child(Path(model_dir), settings.backend, threads)
        if settings.measure_rss
        else {"skipped": "not requested"}
    )
    roofline = (
        measure_roofline(ctx, results, settings, threads, progress)
        if settings.roofline
        else {"skipped": "not requested"}
    )
    return BenchReport(
        model,
        settings,
        machine_info(threads),
        results,
        memory,
        judge_targets(results, settings, model["model_type"]),
        roofline,
    )


def _everything_prompts(ctx: BenchContext, results: list[ScenarioResult]) -> int:
    """The grid's point count when the everything scenario ran (its floor is then reported), else 0."""
    from sam_edge.bench.everything_bench import EVERYTHING, everything_settings

    if not any(r.name == EVERYTHING and r.samples for r in results):
        return 0
    return everything_settings(ctx)["points_per_side"] ** 2


def measure_roofline(
    ctx: BenchContext,
    results: list[ScenarioResult],
    settings: BenchSettings,
    threads: int,
    progress: Callable[[str], None],
) -> dict:
    """This CPU's peaks, then each roofline scenario's floor and the fraction of it its median reached."""
    try:
        from sam_edge.bench.floors import scenario_floors
        from sam_edge.bench.roofline import measure_peaks

        peaks = measure_peaks(threads, rounds=3 if settings.quick else 7)
        floors = scenario_floors(ctx.predictor, ctx.image.shape[:2], peaks, threads, _everything_prompts(ctx, results))
    except ImportError as error:  # onnx counts the graphs' operations
        return {"skipped": f"the roofline needs {error.name or 'onnx'}; pip install onnx"}
    medians = {r.name: r.stats()["median"] * 1e3 for r in results if r.samples}
    for name, floor in floors.items():
        if "floor_ms" in floor and name in medians:
            floor["median_ms"], floor["fraction"] = medians[name], floor["floor_ms"] / medians[name]
            progress(
                f"  roofline {name:24s} floor {floor['floor_ms']:8.2f} ms  measured {medians[name]:8.2f} ms  "
                f"({floor['fraction']:.0%} of the floor's speed)"
            )
    progress(
        f"  peaks: fp32 GEMM {peaks.best('fp32'):.0f} GFLOP/s (numpy {max(peaks.numpy_gflops.values()):.0f}), "
        + "".join(f"{p} {peaks.best(p):.0f} GFLOP/s, " for p in ("int8", "bf16") if p in peaks.gemm_gflops)
        + f"bandwidth {peaks.bandwidth_gbs['cache']:.0f} GB/s in cache, {peaks.bandwidth_gbs['dram']:.0f} GB/s beyond"
    )
    return {"peaks": peaks.to_dict(), "scenarios": floors}
