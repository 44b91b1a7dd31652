"""Batched prompts against single ones in the same run: is one call of N prompts cheaper than N calls?

A figure is batched median / (N x the single-prompt case's median): 1.0 means batching saves
nothing, 0.5 that a batched prompt costs half a single call. The single case differs from the
batched one only in the count (one point, or one box).
"""

from __future__ import annotations

from .scenarios import PROMPT_CASES


def batching_figures(results) -> list[dict]:
    """One record per batched case that ran beside its single-prompt case (ScenarioResult list)."""
    medians = {r.name: r.stats()["median"] for r in results if r.samples and r.reference is None}
    figures = []
    for case in PROMPT_CASES:
        if case.prompts > 1 and case.name in medians and case.single in medians:
            batched, single = medians[case.name], medians[case.single]
            figures.append(
                {
                    "scenario": case.name,
                    "single": case.single,
                    "prompts": case.prompts,
                    "batched_ms": batched * 1e3,
                    "single_ms": single * 1e3,
                    "batched_vs_single_calls": batched / (case.prompts * single),
                }
            )
    return figures


def batching_text(figures: list[dict]) -> str:
    """Markdown lines, or an empty string when no batched case ran beside its single case."""
    if not figures:
        return ""
    lines = ["Batching (one call of N prompts against N single calls, medians of this run):", ""]
    for f in figures:
        lines.append(
            f"- {f['scenario']}: {f['batched_ms']:.1f} ms = {f['batched_vs_single_calls']:.2f} x {f['prompts']} "
            f"calls of {f['single']} ({f['single_ms']:.2f} ms each); {f['batched_ms'] / f['prompts']:.2f} ms per prompt"
        )
    return "\n".join(lines) + "\n\n"
