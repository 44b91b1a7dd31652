"""What ``sam-edge quantize`` tells its user: quantization.json + quantization.md beside the graphs,
and a short record inside the kept encoder's metadata (precision, recipe, gate verdict, speed-up)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from sam_edge.runtime.atomic_write import atomic_output
from sam_edge.runtime.metadata import GraphMetadata

REPORT_JSON = "quantization.json"
REPORT_MARKDOWN = "quantization.md"


def candidate_record(candidate, fp32_bytes: int) -> dict:
    """One recipe's figures as plain data."""
    record = {
        "recipe": candidate.recipe.name,
        "settings": dataclasses.asdict(candidate.recipe),
        "error": candidate.error,
    }
    if candidate.error is None:
        record |= {
            "gate": candidate.gate.summary(),
            "latency": candidate.latency.summary(),
            "predict_latency": candidate.predict_latency.summary() if candidate.predict_latency else None,
            "size_bytes": candidate.size_bytes,
            "size_ratio": candidate.size_bytes / fp32_bytes,
            "nodes": candidate.nodes,
        }
    return record


def outcome_record(outcome) -> dict:
    kept = outcome.kept
    return {
        "model_dir": str(outcome.model_dir),
        "isa": outcome.isa,
        "fp32_encoder_bytes": outcome.fp32_bytes,
        "kept": kept.recipe.name if kept else "fp32",
        "forced": outcome.forced,
        "written": outcome.written,
        "decoder": _decoder_text(kept),
        "sources": outcome.sources,
        "skipped": outcome.skipped,
        "candidates": [candidate_record(c, outcome.fp32_bytes) for c in outcome.candidates],
    }


def record_in_metadata(metadata: GraphMetadata, outcome) -> GraphMetadata:
    """The kept encoder's metadata with its gate verdict (``forced`` when it failed and --force kept it)."""
    kept = outcome.kept
    summary = {
        "recipe": kept.recipe.name,
        "isa": outcome.isa,
        "gate_passed": kept.gate.passed,
        "forced": outcome.forced,
        "gate_failures": kept.gate.failures(),
        "min_cosine": kept.gate.min_cosine,
        "median_iou": kept.gate.median_iou,
        "speedup_vs_fp32": kept.latency.speedup,
        "report": REPORT_JSON,
    }
    return dataclasses.replace(metadata, extra=dict(metadata.extra) | {"quantization": summary})


def render_markdown(outcome) -> str:
    kept = outcome.kept.recipe.name if outcome.kept else "fp32 (no recipe passed the gate and beat fp32)"
    if not outcome.written:
        kept = "nothing written: the recipe failed the gate (rerun with --force to keep it anyway)"
    lines = [
        f"# Quantization of {outcome.model_dir}",
        "",
        f"- CPU instruction set: {outcome.isa}; kept: **{kept}**"
        + (" (FORCED past a failed gate)" if outcome.forced else ""),
        f"- calibration: {outcome.sources['calibration']}; gate: {outcome.sources['gate']}; "
        f"benchmark mIoU images: {outcome.sources['miou_images']}",
        f"- decoder graphs: {_decoder_text(outcome.kept)}",
        "",
        "| recipe | backend | encoder ms (fp32 ms) | speed-up | size MB (ratio) | min cosine | median IoU | p5 IoU "
        "| mIoU change | gate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for candidate in outcome.candidates:
        lines.append(_row(candidate, outcome.fp32_bytes))
    lines += ["", "Quantized / float compute ops per recipe:", ""]
    for candidate in outcome.candidates:
        if candidate.error is None:
            lines.append(
                f"- {candidate.recipe.name}: quantized {_ops(candidate.nodes['quantized'])}; "
                f"float {_ops(candidate.nodes['float'])}"
            )
    lines += [f"- skipped {line}" for line in outcome.skipped]
    lines += [
        f"- {c.recipe.name}: 1-point predict {c.predict_latency.candidate_median_ms:.1f} ms vs the fp32 decoder's "
        f"{c.predict_latency.fp32_median_ms:.1f} ms ({c.predict_latency.speedup:.2f}x, same embedding)"
        for c in outcome.candidates
        if c.error is None and c.predict_latency is not None
    ]
    return "\n".join(lines) + "\n"


def _row(candidate, fp32_bytes: int) -> str:
    recipe = candidate.recipe
    if candidate.error:
        return f"| {recipe.name} | {recipe.backend} | failed: {candidate.error} | | | | | | | |"
    gate, latency = candidate.gate, candidate.latency
    change = "" if gate.miou_change is None else f"{gate.miou_change:+.4f}"
    verdict = "pass" if gate.passed else "FAIL: " + "; ".join(gate.failures())
    return (
        f"| {recipe.name} | {recipe.backend} | {latency.candidate_median_ms:.0f} ({latency.fp32_median_ms:.0f}) "
        f"| {latency.speedup:.2f}x | {candidate.size_bytes / 1e6:.1f} ({candidate.size_bytes / fp32_bytes:.2f}) "
        f"| {gate.min_cosine:.5f} | {gate.median_iou:.4f} | {gate.p5_iou:.4f} | {change} | {verdict} |"
    )


def _decoder_text(kept) -> str:
    if kept is not None and getattr(kept.recipe, "decoder_too", False):
        return f"{kept.recipe.precision} ({kept.recipe.name}: gated with the encoder)"
    return "fp32 (copied unchanged)"


def _ops(counts: dict[str, int]) -> str:
    return ", ".join(f"{op} x{n}" for op, n in counts.items()) or "none"


def write_reports(outcome, out_dir: Path) -> tuple[Path, Path]:
    """Write quantization.json and quantization.md into ``out_dir`` atomically."""
    paths = out_dir / REPORT_JSON, out_dir / REPORT_MARKDOWN
    with atomic_output(paths[0]) as temporary:
        temporary.write_text(json.dumps(outcome_record(outcome), indent=2))
    with atomic_output(paths[1]) as temporary:
        temporary.write_text(render_markdown(outcome))
    return paths
