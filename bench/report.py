"""Write what ``sam-edge bench`` measured: bench.json (pytest-benchmark's layout: machine_info +
benchmarks with stats), bench.md (a table per model) and bench.png (latency distributions).

Times in JSON are seconds, as in pytest-benchmark; the markdown shows milliseconds. Every file is
written atomically, so an interrupted run never leaves a report that looks complete.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

from sam_edge import __version__
from sam_edge.runtime.atomic_write import atomic_output, prepare_output_dir

from .batching import batching_figures, batching_text
from .eval_report import engines_text
from .plot import render_distributions
from .runner import BenchReport, ScenarioResult
from .scenarios import REFERENCE_LABELS, REFERENCES, image_size

FILES = ("bench.json", "bench.md", "bench.png")


def benchmark_record(result: ScenarioResult, report: BenchReport) -> dict:
    """One entry of pytest-benchmark's ``benchmarks`` list (plus p95, spread and ratios in extra_info)."""
    model_id = report.model["model_id"]
    stats = {**result.stats(), "data": result.samples} if result.samples else None
    return {
        "group": f"{model_id}/{result.group}",
        "name": result.name,
        "fullname": f"{model_id}::{result.name}",
        "params": {"model": model_id, "backend": report.model["backend"]},
        "param": model_id,
        "stats": stats,
        "options": {"timer": "perf_counter", "quick": report.settings.quick},
        "extra_info": {
            "what": result.what,
            "reference": result.reference,
            "compares_with": result.compares_with,
            "ratios": result.ratios,
            "skipped": result.skipped,
        },
    }


def report_json(reports: list[BenchReport]) -> dict:
    """The whole run as one JSON-ready dict."""
    first = reports[0]
    return {
        "machine_info": first.machine,
        "commit_info": {},
        "benchmarks": [benchmark_record(result, report) for report in reports for result in report.results],
        "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "version": f"sam-edge {__version__}",
        "sam_edge": {
            "settings": _settings_record(first),
            "models": [
                {
                    "model": r.model,
                    "memory": r.memory,
                    "targets": r.targets,
                    "roofline": r.roofline,
                    "batching": batching_figures(r.results),
                    "passed": r.passed,
                }
                for r in reports
            ],
            "passed": all(r.passed for r in reports),
        },
    }


def _settings_record(report: BenchReport) -> dict:
    record = dataclasses.asdict(report.settings)
    record["threads"] = report.machine["threads"]
    record["image_size_hw"] = list(image_size(report.settings.quick))
    return record


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g}" if seconds < 1 else f"{seconds * 1e3:.0f}"


def _ratio(result: ScenarioResult, reference: str, skipped: dict) -> str:
    if reference in skipped:
        return "skipped"
    value = result.ratios.get(reference)
    return f"{value:.2f}x" if value else "-"


def markdown_table(report: BenchReport) -> str:
    """sam-edge scenarios with ratios to each reference, then the references themselves, then targets."""
    skipped = {r.reference: r.skipped for r in report.results if r.skipped}
    heads = " | ".join(f"vs {REFERENCE_LABELS[r]}" for r in REFERENCES)
    lines = [
        f"| scenario | rounds | median ms | p95 ms | max ms | spread p95/p50 | {heads} |",
        "|---|---|---|---|---|---|" + "---|" * len(REFERENCES),
    ]
    for result in (r for r in report.results if r.reference is None):
        s = result.stats()
        ratios = " | ".join(_ratio(result, ref, skipped) for ref in REFERENCES)
        lines.append(
            f"| {result.name} | {s['rounds']} | {_ms(s['median'])} | {_ms(s['p95'])} | {_ms(s['max'])} | "
            f"{s['spread']:.2f} | {ratios} |"
        )
    lines += [
        "",
        "References (same run, same weights, same threads):",
        "",
        "| reference | median ms | p95 ms | spread |",
        "|---|---|---|---|",
    ]
    for result in (r for r in report.results if r.reference is not None and not r.skipped):
        s = result.stats()
        lines.append(f"| {result.name} | {_ms(s['median'])} | {_ms(s['p95'])} | {s['spread']:.2f} |")
    lines += skipped_references(report.results)
    return "\n".join(lines) + "\n"


def roofline_text(report: BenchReport) -> str:
    """The roofline section of one model: this CPU's peaks, then floor vs measured per scenario."""
    roofline = report.roofline
    if "peaks" not in roofline:
        return f"Roofline: {roofline.get('skipped', 'not measured')}.\n"
    peaks = roofline["peaks"]
    rates = "; ".join(
        f"{precision} " + ", ".join(f"{shape} {rate:.0f}" for shape, rate in by_shape.items())
        for precision, by_shape in peaks["gemm_gflops"].items()
    )
    numpy_rates = ", ".join(f"{shape} {rate:.0f}" for shape, rate in peaks["numpy_gflops"].items())
    lines = [
        f"Roofline (docs/benchmarks.md): GEMM GFLOP/s per [M x K x N] {rates}; numpy fp32 {numpy_rates} "
        f"(engine / numpy {peaks['engine_vs_numpy']:.2f}); bandwidth {peaks['bandwidth_gbs']['cache']:.0f} GB/s in "
        f"cache, {peaks['bandwidth_gbs']['dram']:.0f} GB/s beyond." + "".join(f" {note}." for note in peaks["notes"]),
        "",
        "| scenario | GFLOP | MB moved | floor ms | median ms | fraction of the floor's speed |",
        "|---|---|---|---|---|---|",
    ]
    for name, floor in roofline["scenarios"].items():
        if "floor_ms" not in floor:
            lines.append(f"| {name} | | | {floor.get('skipped', '')} | | |")
            continue
        measured = f"{floor['median_ms']:.3g} | {floor['fraction']:.0%}" if "fraction" in floor else "- | -"
        lines.append(
            f"| {name} | {floor['gflop']:.3g} | {floor['mbytes']:.3g} | {floor['floor_ms']:.3g} | {measured} |"
        )
    notes = [
        f"{name}: of its floor, {floor['prompt_stage_floor_ms']:.3g} ms is the prompt stage ({floor['prompts']} "
        "prompts x one prompt's floor)."
        for name, floor in roofline["scenarios"].items()
        if "prompt_stage_floor_ms" in floor
    ]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def skipped_references(results: list[ScenarioResult]) -> list[str]:
    """One line per skipped reference (its reason once, however many scenarios it would have run)."""
    scenarios: dict[tuple[str, str], list[str]] = {}
    for result in (r for r in results if r.reference is not None and r.skipped):
        scenarios.setdefault((result.reference, result.skipped), []).append(result.name)
    if not scenarios:
        return []
    lines = ["", "Skipped references:", ""]
    for (reference, reason), names in scenarios.items():
        count = f"{len(names)} scenario{'s' if len(names) > 1 else ''}"
        lines.append(f"- {REFERENCE_LABELS[reference]} ({reference}, {count}): {reason}")
    return lines


def targets_text(report: BenchReport) -> str:
    """One line per target (met / MISSED), the peak RSS, and a line when no encoder budget applies."""
    lines = [
        f"- {t['name']}: {t['value_ms']:.2f} ms <= {t['limit_ms']:g} ms: {'met' if t['met'] else 'MISSED'}"
        for t in report.targets
    ]
    encoder_ran = any(r.name == "encoder" and r.samples for r in report.results)
    if encoder_ran and not any(t["name"].startswith("encoder") for t in report.targets):
        lines.append(f"- encoder: no budget for {report.model['model_type']} (set one with --encoder-budget-ms)")
    memory = report.memory
    lines.append(
        "- peak RSS (child process: load, then set_image + predict on two images): "
        + (
            f"{memory['peak_rss_mb']:.0f} MiB"
            if "peak_rss_mb" in memory
            else memory.get("error") or memory.get("skipped")
        )
    )
    return "\n".join(lines) + "\n"


def report_markdown(reports: list[BenchReport], command: str) -> str:
    machine = reports[0].machine
    cpu = machine["cpu"]
    isa = ", ".join(flag for flag, present in cpu["isa"].items() if present) or "none of the tracked flags"
    versions = ", ".join(f"{name} {version}" for name, version in machine["libraries"].items() if version)
    height, width = image_size(reports[0].settings.quick)
    quick = "; --quick: few rounds, proves the suite works, does not judge speed" if reports[0].settings.quick else ""
    parts = [
        f"# sam-edge bench\n\n`{command}`\n\nCPU: {cpu['model']} ({cpu['physical_cores']} physical cores, "
        f"{cpu['logical_cpus']} logical; ISA: {isa}); threads pinned to {machine['threads']}; {versions}.\n\n"
        f"Image {height}x{width} (masks at full resolution){quick}. Ratios are reference median / sam-edge median "
        "(> 1: sam-edge is faster). Spread is p95 / p50.\n"
    ]
    for report in reports:
        executes = "; ".join(f"{part}: {what}" for part, what in report.model.get("executes", {}).items())
        title = f"{report.model['model_id']} ({engines_text(report.model)})"
        parts.append(
            f"\n## {title}\n\nExecutes (on this CPU, {isa}): "
            f"{executes}.\n\n{markdown_table(report)}\n{batching_text(batching_figures(report.results))}"
            f"Targets:\n\n{targets_text(report)}\n{roofline_text(report)}"
        )
    parts.append("\n![latency distributions](bench.png)\n")
    return "".join(parts)


def write_report(reports: list[BenchReport], out_dir: str | Path, command: str = "sam-edge bench") -> list[Path]:
    """bench.json, bench.md and bench.png in ``out_dir`` (created if needed); returns the paths."""
    out_dir = prepare_output_dir(out_dir)
    paths = [out_dir / name for name in FILES]
    with atomic_output(paths[0], suffix=".json") as temp:
        temp.write_text(json.dumps(report_json(reports), indent=2) + "\n")
    with atomic_output(paths[1], suffix=".md") as temp:
        temp.write_text(report_markdown(reports, command))
    with atomic_output(paths[2], suffix=".png") as temp:
        render_distributions(reports).save(temp, format="PNG")
    return paths
