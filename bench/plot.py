"""bench.png: the latency distribution of every scenario, drawn with Pillow (no plotting library).

One panel per model, one row per scenario: every sample as a dot, the q1..q3 box, the median as a
black bar and the p95 as a red tick, on a shared logarithmic millisecond axis (encoders and decoders
differ by orders of magnitude). References are drawn in grey, sam-edge in blue.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .eval_report import engines_text

LABEL_W, PLOT_W, VALUE_W, ROW_H, TITLE_H, AXIS_H = 260, 640, 110, 22, 26, 30
OURS, REFERENCE, MEDIAN, P95, GRID = (40, 100, 220), (150, 150, 150), (0, 0, 0), (220, 30, 30), (225, 225, 225)


def _axis_range(reports) -> tuple[float, float]:
    """log10 of the smallest and largest sample (ms) over all reports, widened to whole decades."""
    samples = [s * 1e3 for report in reports for result in report.results for s in result.samples]
    if not samples:
        return 0.0, 1.0
    low, high = math.floor(math.log10(max(min(samples), 1e-3))), math.ceil(math.log10(max(samples)))
    return float(low), float(max(high, low + 1))


def _x(ms: float, span: tuple[float, float]) -> float:
    low, high = span
    return LABEL_W + (math.log10(max(ms, 1e-6)) - low) / (high - low) * PLOT_W


def _draw_axis(draw: ImageDraw.ImageDraw, top: int, bottom: int, span: tuple[float, float], font) -> None:
    for decade in range(int(span[0]), int(span[1]) + 1):
        x = _x(10.0**decade, span)
        draw.line([(x, top), (x, bottom)], fill=GRID)
        label = f"{10.0**decade:g} ms"
        draw.text((x - 3 * len(label), bottom + 4), label, fill=(0, 0, 0), font=font)


def _draw_row(draw: ImageDraw.ImageDraw, result, y: int, span: tuple[float, float], font, seed: int) -> None:
    draw.text((6, y + 4), result.name[:40], fill=(0, 0, 0), font=font)
    if not result.samples:
        draw.text((LABEL_W + 6, y + 4), f"skipped: {result.skipped}"[:90], fill=REFERENCE, font=font)
        return
    color = OURS if result.reference is None else REFERENCE
    stats = result.stats()
    x_q1, x_q3 = _x(stats["q1"] * 1e3, span), _x(stats["q3"] * 1e3, span)
    draw.rectangle([x_q1, y + 5, max(x_q3, x_q1 + 1), y + ROW_H - 5], outline=color)
    jitter = np.random.default_rng(seed).uniform(7, ROW_H - 7, size=len(result.samples))
    for sample, dy in zip(result.samples, jitter):
        x = _x(sample * 1e3, span)
        draw.ellipse([x - 1.5, y + dy - 1.5, x + 1.5, y + dy + 1.5], fill=color)
    x_med, x_p95 = _x(stats["median"] * 1e3, span), _x(stats["p95"] * 1e3, span)
    draw.line([(x_med, y + 3), (x_med, y + ROW_H - 3)], fill=MEDIAN, width=2)
    draw.line([(x_p95, y + 3), (x_p95, y + ROW_H - 3)], fill=P95, width=2)
    median_ms = stats["median"] * 1e3
    draw.text(
        (LABEL_W + PLOT_W + 8, y + 4),
        f"{median_ms:.3g} ms" if median_ms < 1000 else f"{median_ms:.0f} ms",
        fill=(0, 0, 0),
        font=font,
    )


def render_distributions(reports) -> Image.Image:
    """All reports' scenarios as one image (see the module docstring for the encoding)."""
    font = ImageFont.load_default(size=11)
    span = _axis_range(reports)
    heights = [TITLE_H + ROW_H * len(report.results) + AXIS_H for report in reports]
    image = Image.new("RGB", (LABEL_W + PLOT_W + VALUE_W, sum(heights) + 20), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    top = 0
    for report, height in zip(reports, heights):
        title = f"{report.model['model_id']} ({engines_text(report.model)}, {report.machine['threads']} threads)"
        draw.text(
            (6, top + 6), title + "  -  dots: samples, box: q1..q3, black: median, red: p95", fill=(0, 0, 0), font=font
        )
        rows_top = top + TITLE_H
        rows_bottom = rows_top + ROW_H * len(report.results)
        _draw_axis(draw, rows_top, rows_bottom, span, font)
        for index, result in enumerate(report.results):
            _draw_row(draw, result, rows_top + index * ROW_H, span, font, seed=index)
        top += height
    return image
