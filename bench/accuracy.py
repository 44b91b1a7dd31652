"""Accuracy of a SAM predictor on the held-out benchmark (``sam-edge eval``); numpy + runtime + scenes only.

Protocol (deterministic, after SAM's interactive evaluation; every instance of every scene is a target):

- ``point``: one foreground click at the instance's deepest point (farthest from its boundary, see
  ``clicks.deepest_point``), multimask output. Scored: the top-scored of the 3 masks (``point``) and
  the best of the 3 (``point_oracle``, SAM's oracle).
- ``box``: the tight ground-truth box (x0, y0, x1, y1 = first and last pixel indices), single mask.
- ``clicks``: starting from the top-scored 1-point mask, N = 1..``clicks`` rounds: click at the
  deepest point of the current error (``clicks.correction_click``: of the missed region -> label 1
  and the spilled one -> label 0, the one with the larger inscribed disc; with no error, a confirming
  label-1 click), then predict again from all clicks so far plus the previous low-res logits as
  ``mask_input``, single mask. Scored after each round (``clicks_1`` ... ``clicks_N``).

IoU is computed per instance in the original image frame; mIoU is the mean over all instances of all
images. Every prediction's score (the IoU head's predicted IoU) is also paired with its actual IoU for
the calibration report (``calibration.CalibrationPairs``: all 3 candidates of a point, the box, each
round). Prompts of one image that share a layout go through the decoder together (``predict_batch``,
at most ``batch`` prompts per call). The metric (``mask_iou``) and the protocol only need an object
with ``set_image`` and ``predict_batch`` (``Segmenter``), so a perfect stand-in can test them.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.scenes import HeldOutBenchmark, Scene

from .calibration import CalibrationPairs
from .clicks import correction_click, deepest_point
from .eval_examples import Example, pick_examples, scene_examples
from .everything_recall import EverythingRecall

PROMPT_KINDS = ("point", "box", "clicks")
DEFAULT_CLICKS = 4
MAX_CLICKS = 20
DEFAULT_BATCH = 8  # prompts per decoder call: bounds the [B, 3, H, W] logits held at once
PROTOCOL = {  # one line per protocol, copied into every report
    "point": "1 fg click at the instance's deepest point, multimask; top-scored (point) and best of 3 (point_oracle)",
    "box": "tight ground-truth box (first/last pixel indices), single mask",
    "clicks": "from the top-scored 1-point mask: click at the deepest point of the deeper error region "
    "(missed -> fg, spilled -> bg), re-predict with all clicks + previous low-res logits, single mask",
    "iou": "per instance in the original image frame; mIoU = mean over all instances of all images",
}


class Segmenter(Protocol):
    """What the protocol needs of a predictor (``SamPredictor`` fits)."""

    def set_image(self, image): ...

    def predict_batch(
        self, point_coords=None, point_labels=None, boxes=None, mask_input=None, multimask_output: bool = True
    ): ...


@dataclass(frozen=True)
class EvalSettings:
    """Which protocols, how many images (None = all), how many correction clicks, prompts per call."""

    prompts: tuple[str, ...] = PROMPT_KINDS
    limit: int | None = None
    clicks: int = DEFAULT_CLICKS
    batch: int = DEFAULT_BATCH

    def __post_init__(self) -> None:
        unknown = [p for p in self.prompts if p not in PROMPT_KINDS]
        if unknown or not self.prompts:
            raise InvalidInputError(
                f"unknown prompt kinds {unknown or '(none given)'}; accepted: {', '.join(PROMPT_KINDS)}"
            )
        if isinstance(self.clicks, bool) or not isinstance(self.clicks, int) or not 1 <= self.clicks <= MAX_CLICKS:
            raise InvalidInputError(f"clicks must be an int in 1..{MAX_CLICKS}; got {self.clicks!r}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise InvalidInputError(f"batch must be an int >= 1; got {self.batch!r}")
        HeldOutBenchmark(self.limit)  # validates limit (None or int >= 1)

    def metric_names(self) -> list[str]:
        """Report keys in table order, e.g. point, point_oracle, box, clicks_1 .. clicks_N."""
        names = ["point", "point_oracle"] if "point" in self.prompts else []
        names += ["box"] if "box" in self.prompts else []
        names += [f"clicks_{n}" for n in range(1, self.clicks + 1)] if "clicks" in self.prompts else []
        return names


@dataclass
class SceneResult:
    """IoU per instance ([K] float64 per metric name) of one scene, its timings, kept examples and
    the IoU head's (predicted, actual) pairs of every prediction made."""

    ious: dict[str, np.ndarray]
    encode_s: float
    decode_s: float
    total_s: float
    examples: list[Example] = field(default_factory=list)
    calibration: CalibrationPairs = field(default_factory=CalibrationPairs)


def mask_iou(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """IoU of bool masks [..., H, W] (broadcast) -> float64 [...]; two empty masks count as 1.0."""
    predicted, target = np.asarray(predicted, bool), np.asarray(target, bool)
    intersection = np.logical_and(predicted, target).sum(axis=(-2, -1))
    union = np.logical_or(predicted, target).sum(axis=(-2, -1))
    return np.where(union > 0, intersection / np.maximum(union, 1), 1.0)


def tight_boxes(masks: np.ndarray) -> np.ndarray:
    """bool [K, H, W] -> float32 [K, 4] boxes (x0, y0, x1, y1): first and last set pixel indices."""
    boxes = np.zeros((len(masks), 4), np.float32)
    for k, mask in enumerate(masks):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        boxes[k] = (cols[0], rows[0], cols[-1], rows[-1])
    return boxes


class _TimedSegmenter:
    """Wraps a segmenter: counts seconds spent in set_image and predict_batch; chunks batches."""

    def __init__(self, segmenter: Segmenter, batch: int) -> None:
        self.segmenter, self.batch = segmenter, batch
        self.encode_s = self.decode_s = 0.0

    def set_image(self, image) -> None:
        started = time.perf_counter()
        self.segmenter.set_image(image)
        self.encode_s += time.perf_counter() - started

    def chunks(self, count: int, coords=None, labels=None, boxes=None, mask_input=None, multimask=False) -> Iterator:
        """Yield (slice, Prediction) over ``count`` prompts, at most ``batch`` per decoder call."""
        for start in range(0, count, self.batch):
            part = slice(start, min(count, start + self.batch))
            started = time.perf_counter()
            prediction = self.segmenter.predict_batch(
                None if coords is None else coords[part],
                None if labels is None else labels[part],
                None if boxes is None else boxes[part],
                None if mask_input is None else mask_input[part],
                multimask_output=multimask,
            )
            self.decode_s += time.perf_counter() - started
            yield part, prediction


def _run_point(model: _TimedSegmenter, targets: np.ndarray):
    """1 fg point per instance -> (top IoU [K], best-of-3 IoU [K], top masks [K,H,W],
    top logits [K,1,256,256], coords [K,1,2], scores [K,3], IoU of all 3 candidates [K,3])."""
    count = len(targets)
    coords = np.array([deepest_point(mask)[:2] for mask in targets], np.float32).reshape(count, 1, 2)
    labels = np.ones((count, 1), np.float32)
    top_iou, best_iou = np.zeros(count), np.zeros(count)
    masks, logits = np.zeros(targets.shape, bool), np.zeros((count, 1, 256, 256), np.float32)
    scores, candidate_ious = np.zeros((count, 3)), np.zeros((count, 3))
    for part, prediction in model.chunks(count, coords, labels, multimask=True):
        ious = mask_iou(prediction.masks, targets[part, None])  # [b, 3]
        top = np.argmax(prediction.scores, axis=1)
        rows = np.arange(len(top))
        top_iou[part], best_iou[part] = ious[rows, top], ious.max(axis=1)
        masks[part], logits[part, 0] = prediction.masks[rows, top], prediction.low_res_logits[rows, top]
        scores[part], candidate_ious[part] = prediction.scores, ious
    return top_iou, best_iou, masks, logits, coords, scores, candidate_ious


def _run_box(model: _TimedSegmenter, targets: np.ndarray):
    """The tight box per instance, single mask -> (IoU [K], masks [K, H, W], boxes [K, 4], scores [K])."""
    boxes = tight_boxes(targets)
    ious, masks, scores = np.zeros(len(targets)), np.zeros(targets.shape, bool), np.zeros(len(targets))
    for part, prediction in model.chunks(len(targets), boxes=boxes):
        masks[part], scores[part] = prediction.masks[:, 0], prediction.scores[:, 0]
        ious[part] = mask_iou(masks[part], targets[part])
    return ious, masks, boxes, scores


def _run_clicks(model: _TimedSegmenter, targets, masks, logits, coords, rounds: int):
    """Correction rounds from the 1-point result -> ([rounds, K] IoU, final masks [K,H,W], coords [K,1+N,2],
    labels [K,1+N], [rounds, K] scores)."""
    labels = np.ones((len(targets), 1), np.float32)
    ious, scores = np.zeros((rounds, len(targets))), np.zeros((rounds, len(targets)))
    for round_index in range(rounds):
        new = [correction_click(mask, target) for mask, target in zip(masks, targets)]
        coords = np.concatenate([coords, np.array([[[c.x, c.y]] for c in new], np.float32)], axis=1)
        labels = np.concatenate([labels, np.array([[c.label] for c in new], np.float32)], axis=1)
        previous, masks, logits = logits, np.zeros_like(masks), np.zeros_like(logits)
        for part, prediction in model.chunks(len(targets), coords, labels, mask_input=previous):
            masks[part], logits[part] = prediction.masks[:, 0], prediction.low_res_logits
            scores[round_index, part] = prediction.scores[:, 0]
        ious[round_index] = mask_iou(masks, targets)
    return ious, masks, coords, labels, scores


def evaluate_scene(
    segmenter: Segmenter, scene: Scene, settings: EvalSettings, keep: tuple[int, ...] = ()
) -> SceneResult:
    """Run the selected protocols on every instance of ``scene``; keep Examples for instances ``keep``.

    Calibration pairs per selected kind: point 3 per instance (every candidate), box 1, clicks 1 per round.
    """
    started = time.perf_counter()
    model, targets, prompts = _TimedSegmenter(segmenter, settings.batch), scene.instance_masks, settings.prompts
    model.set_image(scene.image)
    ious, examples, pairs = {}, [], CalibrationPairs()
    if "point" in prompts or "clicks" in prompts:  # the clicks start from the 1-point result
        top_iou, best_iou, masks, logits, coords, scores, candidate_ious = _run_point(model, targets)
        if "point" in prompts:
            ious["point"], ious["point_oracle"] = top_iou, best_iou
            pairs.add("point", scores, candidate_ious)
            examples += scene_examples("point", scene, keep, masks, top_iou, coords, np.ones((len(targets), 1)))
    if "box" in prompts:
        ious["box"], box_masks, boxes, scores = _run_box(model, targets)
        pairs.add("box", scores, ious["box"])
        examples += scene_examples("box", scene, keep, box_masks, ious["box"], boxes=boxes)
    if "clicks" in prompts:
        rounds, final, click_coords, click_labels, scores = _run_clicks(
            model, targets, masks, logits, coords, settings.clicks
        )
        ious.update({f"clicks_{n + 1}": values for n, values in enumerate(rounds)})
        pairs.add("clicks", scores, rounds)
        examples += scene_examples(
            f"clicks_{settings.clicks}", scene, keep, final, rounds[-1], click_coords, click_labels
        )
    return SceneResult(ious, model.encode_s, model.decode_s, time.perf_counter() - started, examples, pairs)


@dataclass
class AccuracyReport:
    """Everything ``sam-edge eval`` reports: per-instance IoUs (concatenated over images), kinds, timings,
    the IoU head's calibration pairs and, when it ran, the segment-everything recall (``everything``)."""

    settings: EvalSettings
    model_id: str
    images: int = 0
    ious: dict[str, list[float]] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)  # shape kind per instance, aligned with ious
    timings: dict[str, list[float]] = field(default_factory=lambda: {"encode_s": [], "decode_s": [], "total_s": []})
    examples: list[Example] = field(default_factory=list)
    calibration: CalibrationPairs = field(default_factory=CalibrationPairs)
    everything: EverythingRecall | None = None

    @property
    def instances(self) -> int:
        return len(self.kinds)

    def miou(self) -> dict[str, float]:
        """Mean IoU per metric name, in table order."""
        return {name: float(np.mean(self.ious[name])) for name in self.settings.metric_names() if self.ious.get(name)}

    def miou_by_kind(self) -> dict[str, dict[str, float]]:
        """{shape kind: {metric: mIoU over that kind's instances}}."""
        kinds = np.array(self.kinds)
        return {
            kind: {name: float(np.mean(np.array(values)[kinds == kind])) for name, values in self.ious.items()}
            for kind in sorted(set(self.kinds))
        }

    def timing_summary(self) -> dict[str, float]:
        """Mean and median seconds per image of encoding, decoding (decoder + post-processing) and all of it."""
        summary = {}
        for name, values in self.timings.items():
            summary[f"{name}_mean"] = float(np.mean(values)) if values else 0.0
            summary[f"{name}_median"] = float(statistics.median(values)) if values else 0.0
        return summary

    def add(self, scene: Scene, result: SceneResult) -> None:
        self.images += 1
        self.kinds.extend(scene.kinds)
        for name, values in result.ious.items():
            self.ious.setdefault(name, []).extend(float(v) for v in values)
        for name in self.timings:
            self.timings[name].append(getattr(result, name))
        self.examples.extend(result.examples)
        self.calibration.extend(result.calibration)


def evaluate(
    segmenter: Segmenter,
    settings: EvalSettings,
    model_id: str,
    examples: int = 12,
    progress: Callable[[AccuracyReport, int], None] | None = None,
) -> AccuracyReport:
    """Score ``segmenter`` on the held-out benchmark (the first ``settings.limit`` scenes).

    Keeps about ``examples`` Examples, the same instances for every protocol, from the first scenes.
    ``progress(report, total_images)`` is called after each image.
    """
    benchmark = HeldOutBenchmark(settings.limit)
    report = AccuracyReport(settings, model_id)
    quota = -(-examples // len(settings.prompts))  # examples per protocol
    for index, scene in enumerate(benchmark):
        kept = len(report.examples) // len(settings.prompts)
        wanted = -(-(quota - kept) // (len(benchmark) - index))  # spread the rest over the remaining scenes
        report.add(scene, evaluate_scene(segmenter, scene, settings, pick_examples(scene, wanted)))
        if progress is not None:
            progress(report, len(benchmark))
    return report
