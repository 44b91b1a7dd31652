"""Write what ``sam-edge eval`` measured: report.json, report.md (markdown tables) and examples.png.

Besides the mIoU table: the IoU head's calibration (bench/calibration.py) and, when it ran, the
segment-everything recall (bench/everything_recall.py), each with its target.

Every file is written atomically (a temporary file renamed into place), so an interrupted run never
leaves a report that looks complete.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sam_edge.runtime.amg_masks import FilterCounts
from sam_edge.runtime.atomic_write import atomic_output, prepare_output_dir
from sam_edge.runtime.overlay import render_overlay
from sam_edge.scenes import BENCHMARK_IMAGES

from .accuracy import PROTOCOL, AccuracyReport
from .calibration import CALIBRATION_TARGET
from .eval_examples import Example
from .everything_recall import EVERYTHING_RECALL_TARGET, RECALL_IOU, EverythingRecall

# The default model's accuracy targets (held-out benchmark, fp32 nano model; docs/training.md).
TARGETS = {"point": 0.70, "point_oracle": 0.80, "box": 0.85, "clicks_3": 0.90}
TILE_SIDE = 256
CAPTION_HEIGHT = 16
TARGET_OUTLINE = (255, 0, 255)
LEGEND = (
    "blue: predicted mask; magenta: ground-truth outline; green / red dots: foreground / background clicks; yellow: box"
)


def metric_label(name: str) -> str:
    """Human words for a metric key (point, point_oracle, box, clicks_N)."""
    if name.startswith("clicks_"):
        count = int(name.split("_")[1])
        return f"1 point + {count} correction click{'s' if count > 1 else ''}"
    return {"point": "1 point, top-scored of 3", "point_oracle": "1 point, best of 3 (oracle)", "box": "1 box (tight)"}[
        name
    ]


CALIBRATION_LABELS = {
    "overall": "all predictions",
    "point": "1 point, each of the 3 candidates",
    "box": "1 box (tight)",
    "clicks": "correction clicks, every round",
}


def describe_predictor(predictor) -> dict:
    """The model part of the report: the decoder's metadata record, graph files and the engine of each part.

    ``backend`` runs the decoder, ``encoder_backend`` the encoder: they differ when the model
    directory's ``<model>.backends.json`` measured different engines faster (segment follows it too).
    """
    record = json.loads(predictor.metadata.to_json())
    record["encoder_file"] = str(predictor.encoder.path) if predictor.encoder is not None else None
    record["decoder_file"] = str(predictor.decoder.path)
    record["backend"] = predictor.decoder.engine
    record["encoder_backend"] = predictor.encoder.name if predictor.encoder is not None else None
    record["decoder"] = predictor.decoder.layout
    record["executes"] = executed_precisions(predictor)
    return record


def engines_text(model: dict) -> str:
    """'onnxruntime', or 'encoder on openvino, decoder on onnxruntime' (from a describe_predictor record)."""
    encoder, decoder = model.get("encoder_backend"), model["backend"]
    return decoder if encoder in (None, decoder) else f"encoder on {encoder}, decoder on {decoder}"


def executed_precisions(predictor) -> dict[str, str]:
    """Graph part -> "<engine> <what its kernels run in on this CPU>", e.g. {"encoder": "openvino f32"}."""
    graphs = ({"encoder": predictor.encoder} if predictor.encoder is not None else {}) | predictor.decoder.graphs()
    return {part: f"{backend.name} {backend.executed_precision()}" for part, backend in graphs.items()}


def report_record(report: AccuracyReport, model: dict) -> dict:
    """All numbers and settings as one JSON-ready dict."""
    settings = report.settings
    miou = report.miou()
    calibration = report.calibration.summary()
    record = {
        "model_id": report.model_id,
        "benchmark": {
            "images": report.images,
            "instances": report.instances,
            "of_images": BENCHMARK_IMAGES,
            "seeds": [0, report.images - 1],
            "complete": report.images == BENCHMARK_IMAGES,
        },
        "settings": {
            "prompts": list(settings.prompts),
            "limit": settings.limit,
            "clicks": settings.clicks,
            "batch": settings.batch,
            "protocol": PROTOCOL,
        },
        "miou": miou,
        "targets": {
            name: {"target": value, "met": miou[name] >= value} for name, value in TARGETS.items() if name in miou
        },
        "calibration": calibration,
        "miou_by_kind": report.miou_by_kind(),
        "instances_by_kind": {kind: report.kinds.count(kind) for kind in sorted(set(report.kinds))},
        "timing_s_per_image": report.timing_summary(),
        "model": model,
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
    }
    rho = calibration["overall"]["spearman"]
    if rho is not None:
        record["targets"]["calibration_spearman"] = {"target": CALIBRATION_TARGET, "met": rho >= CALIBRATION_TARGET}
    if report.everything is not None:
        record["everything"] = everything = report.everything.summary()
        if everything["recall"] is not None and everything["official_settings"]:  # the target's grid only
            met = everything["recall"] >= EVERYTHING_RECALL_TARGET
            record["targets"]["everything_recall"] = {"target": EVERYTHING_RECALL_TARGET, "met": met}
    return record


def markdown_table(report: AccuracyReport) -> str:
    """The mIoU table, counts and timings as markdown (also what the command prints)."""
    miou, timing = report.miou(), report.timing_summary()
    lines = [
        f"held-out benchmark: {report.images} of {BENCHMARK_IMAGES} images, {report.instances} instances; "
        f"model {report.model_id}",
        "",
        "| prompt | mIoU | target |",
        "|---|---|---|",
    ]
    for name, value in miou.items():
        target = f">= {TARGETS[name]:.2f}" if name in TARGETS else ""
        lines.append(f"| {metric_label(name)} | {value:.3f} | {target} |")
    lines += [
        "",
        f"time per image: {timing['total_s_mean']:.2f} s mean, {timing['total_s_median']:.2f} s median "
        f"(encoder {timing['encode_s_mean']:.2f} s, decoder + post-processing {timing['decode_s_mean']:.2f} s, "
        f"the rest is click simulation and scoring)",
    ]
    lines += calibration_table(report)
    if report.everything is not None:
        lines += everything_table(report.everything)
    return "\n".join(lines) + "\n"


def calibration_table(report: AccuracyReport) -> list[str]:
    """Markdown lines: Spearman's rho of predicted vs actual IoU, overall and per prompt kind, with pairs."""
    lines = [
        "",
        "IoU head calibration (Spearman's rank correlation of predicted vs actual IoU):",
        "",
        "| predictions | pairs | Spearman | target |",
        "|---|---|---|---|",
    ]
    for name, values in report.calibration.summary().items():
        rho = "-" if values["spearman"] is None else f"{values['spearman']:.3f}"
        target = f">= {CALIBRATION_TARGET:.2f}" if name == "overall" else ""
        lines.append(f"| {CALIBRATION_LABELS[name]} | {values['pairs']} | {rho} | {target} |")
    return lines


def everything_table(everything: EverythingRecall) -> list[str]:
    """Markdown lines: segment-everything recall, mean best IoU and masks per image."""
    summary = everything.summary()
    settings = summary["settings"]
    caveat = "" if summary["official_settings"] else " (not the official grid: the target is for 32)"
    recall = "-" if summary["recall"] is None else f"{summary['recall']:.3f}"
    best = "-" if summary["mean_best_iou"] is None else f"{summary['mean_best_iou']:.3f}"
    masks = summary["masks_per_image"]
    return [
        "",
        f"segment everything on {summary['images']} image{'s' * (summary['images'] != 1)} "
        f"({summary['objects']} ground-truth objects): "
        f"points_per_side {settings['points_per_side']}{caveat}, pred_iou_thresh {settings['pred_iou_thresh']}, "
        f"stability_score_thresh {settings['stability_score_thresh']}, the rest default; "
        f"{summary['seconds_per_image_median']:.1f} s per image (median)",
        "",
        "| metric | value | target |",
        "|---|---|---|",
        f"| objects matched at IoU >= {RECALL_IOU} (recall) | {recall} ({summary['matched']} of "
        f"{summary['objects']}) | >= {EVERYTHING_RECALL_TARGET:.2f} |",
        f"| mean best IoU per object | {best} |  |",
        f"| masks per image | {masks['mean']:.1f} mean (min {masks['min']}, max {masks['max']}) |  |",
        f"| filters, all images | {FilterCounts(everything.candidates, dict(everything.removed)).summary()} |  |",
    ]


def kind_table(report: AccuracyReport) -> str:
    """mIoU per shape kind (rows) and metric (columns) as markdown."""
    names = list(report.miou())
    lines = ["| kind | instances | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for kind, values in report.miou_by_kind().items():
        lines.append(f"| {kind} | {report.kinds.count(kind)} | " + " | ".join(f"{values[n]:.3f}" for n in names) + " |")
    return "\n".join(lines) + "\n"


def render_example(example: Example, side: int = TILE_SIDE) -> Image.Image:
    """One tile: the image shrunk to ``side``, ground-truth outline, predicted mask, prompt, caption."""
    height, width = example.image.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    rgb = np.array(Image.fromarray(example.image).resize(size, Image.BILINEAR))
    predicted, target = (
        np.array(Image.fromarray(m.astype(np.uint8) * 255).resize(size, Image.NEAREST)) > 127
        for m in (example.predicted, example.target)
    )
    rgb[_outline(target)] = TARGET_OUTLINE
    coords = None if example.point_coords is None else (np.asarray(example.point_coords) + 0.5) * scale - 0.5
    box = None if example.box is None else (np.asarray(example.box) + 0.5) * scale - 0.5
    overlay = render_overlay(rgb, predicted, coords, example.point_labels, box)
    tile = Image.new("RGB", (side, side + CAPTION_HEIGHT), (255, 255, 255))
    tile.paste(overlay, ((side - size[0]) // 2, 0))
    caption = f"{example.metric}  seed {example.seed} #{example.instance} {example.kind}  IoU {example.iou:.2f}"
    ImageDraw.Draw(tile).text((3, size[1] + 1), caption, fill=(0, 0, 0), font=ImageFont.load_default(size=11))
    return tile


def render_examples(examples: list[Example], columns: int) -> Image.Image:
    """The tiles in a grid ``columns`` wide, one row per instance (seed, instance), protocols in the given order."""
    examples = sorted(examples, key=lambda example: (example.seed, example.instance))  # stable: keeps protocol order
    tiles = [render_example(example) for example in examples] or [
        Image.new("RGB", (TILE_SIDE, TILE_SIDE), (255, 255, 255))
    ]
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    tile_w, tile_h = tiles[0].size
    grid = Image.new("RGB", (columns * tile_w, rows * tile_h), (255, 255, 255))
    for index, tile in enumerate(tiles):
        grid.paste(tile, ((index % columns) * tile_w, (index // columns) * tile_h))
    return grid


def _outline(mask: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels of ``mask`` with a 4-neighbour outside it (or on the image border)."""
    padded = np.pad(mask, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


def write_report(report: AccuracyReport, out_dir: str | Path, model: dict) -> list[Path]:
    """report.json, report.md and examples.png in ``out_dir`` (created if needed); returns the paths."""
    out_dir = prepare_output_dir(out_dir)
    paths = [out_dir / "report.json", out_dir / "report.md", out_dir / "examples.png"]
    with atomic_output(paths[0], suffix=".json") as temp:
        temp.write_text(json.dumps(report_record(report, model), indent=2) + "\n")
    markdown = (
        f"# sam-edge eval\n\n{markdown_table(report)}\n## mIoU by shape kind\n\n{kind_table(report)}\n"
        f"## Examples\n\n![examples](examples.png)\n\n{LEGEND}.\n"
    )
    with atomic_output(paths[1], suffix=".md") as temp:
        temp.write_text(markdown)
    with atomic_output(paths[2], suffix=".png") as temp:
        render_examples(report.examples, columns=len(report.settings.prompts)).save(temp, format="PNG")
    return paths
