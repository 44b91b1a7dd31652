"""The fidelity gate: what a quantized encoder keeps of the fp32 model, measured on held-out images.

Three figures (thresholds in recipes.GateThresholds):
- embedding cosine similarity to the fp32 embedding, per gate image (the worst one counts);
- mask IoU against the fp32 model's masks over a fixed prompt set per image: a jittered 3x3 grid of
  single points (multimask: all 3 masks) and 3 boxes (one mask each), both decoders fp32, so the
  figure isolates the encoder;
- for a model trained on the synthetic scenes (the default model), the change in 1-point mIoU against
  ground truth on the held-out benchmark.
The fp32 side (``Fp32Reference``) is computed once and shared by every recipe tried.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sam_edge.quantize.calibration import ImageSource, ProgressBar
from sam_edge.quantize.recipes import GateThresholds
from sam_edge.runtime.predictor import SamPredictor

PROMPT_SEED = 7


def prompt_set(height: int, width: int, seed: int = PROMPT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Points [9, 2] (x, y: a jittered 3x3 grid) and boxes [3, 4] (x0, y0, x1, y1), original image frame."""
    rng = np.random.default_rng(seed)
    grid = (np.arange(3) + 0.5) / 3
    fractions = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2) + rng.uniform(-0.1, 0.1, (9, 2))
    points = fractions * [width - 1, height - 1]
    corners = np.sort(rng.uniform(0.05, 0.95, (3, 2, 2)), axis=1) * [width - 1, height - 1]
    return points.astype(np.float32), corners.reshape(3, 4).astype(np.float32)


def prompt_masks(predictor: SamPredictor, height: int, width: int) -> np.ndarray:
    """bool [9 * 3 + 3, H, W]: the masks of ``prompt_set`` on the predictor's current image."""
    points, boxes = prompt_set(height, width)
    by_point = predictor.predict_batch(points[:, None], np.ones((len(points), 1), np.float32))
    by_box = predictor.predict_batch(boxes=boxes, multimask_output=False)
    return np.concatenate([by_point.masks.reshape(-1, height, width), by_box.masks.reshape(-1, height, width)])


def mask_ious(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """IoU per mask of two bool [K, H, W] stacks; two empty masks agree fully (1.0)."""
    first, second = first.reshape(len(first), -1), second.reshape(len(second), -1)
    intersection = np.count_nonzero(first & second, axis=1)
    union = np.count_nonzero(first | second, axis=1)
    return np.where(union == 0, 1.0, intersection / np.maximum(union, 1))


def cosine(first: np.ndarray, second: np.ndarray) -> float:
    first, second = first.ravel().astype(np.float64), second.ravel().astype(np.float64)
    return float(first @ second / max(np.linalg.norm(first) * np.linalg.norm(second), 1e-30))


@dataclass(frozen=True)
class GateResult:
    """Figures of one candidate against fp32, and whether they pass ``thresholds``."""

    cosines: tuple[float, ...]  # per gate image
    ious: tuple[float, ...]  # per prompt mask
    thresholds: GateThresholds
    miou_fp32: float | None = None
    miou_candidate: float | None = None

    @property
    def min_cosine(self) -> float:
        return min(self.cosines)

    @property
    def median_iou(self) -> float:
        return float(np.median(self.ious))

    @property
    def p5_iou(self) -> float:
        return float(np.percentile(self.ious, 5))

    @property
    def miou_change(self) -> float | None:
        if self.miou_fp32 is None or self.miou_candidate is None:
            return None
        return self.miou_candidate - self.miou_fp32

    def failures(self) -> list[str]:
        """One phrase per missed threshold (empty when the gate passes)."""
        limits = self.thresholds
        missed = []
        if self.min_cosine < limits.min_cosine:
            missed.append(f"embedding cosine {self.min_cosine:.5f} < {limits.min_cosine}")
        if self.median_iou < limits.min_median_iou:
            missed.append(f"median mask IoU {self.median_iou:.4f} < {limits.min_median_iou}")
        if self.p5_iou < limits.min_p5_iou:
            missed.append(f"5th-percentile mask IoU {self.p5_iou:.4f} < {limits.min_p5_iou}")
        change = self.miou_change
        if change is not None and change < -limits.max_miou_drop:
            missed.append(f"benchmark mIoU dropped {-change:.4f} > {limits.max_miou_drop}")
        return missed

    @property
    def passed(self) -> bool:
        return not self.failures()

    def summary(self) -> dict:
        return {
            "passed": self.passed,
            "failures": self.failures(),
            "min_cosine": self.min_cosine,
            "median_iou": self.median_iou,
            "p5_iou": self.p5_iou,
            "prompts": len(self.ious),
            "images": len(self.cosines),
            "miou_fp32": self.miou_fp32,
            "miou": self.miou_candidate,
            "miou_change": self.miou_change,
            "thresholds": asdict(self.thresholds),
        }


@dataclass
class Fp32Reference:
    """The fp32 model's embeddings, prompt masks and benchmark mIoU on the gate images."""

    images: list[np.ndarray]
    embeddings: list[np.ndarray]
    masks: list[np.ndarray]
    miou: float | None


def fp32_reference(predictor: SamPredictor, gate: ImageSource, miou_images: int) -> Fp32Reference:
    images = list(gate.images())
    embeddings, masks = _embed_and_segment(predictor, images, "fp32 reference on gate images")
    miou = benchmark_miou(predictor, miou_images) if miou_images else None
    return Fp32Reference(images, embeddings, masks, miou)


def run_gate(
    candidate: SamPredictor, reference: Fp32Reference, miou_images: int, thresholds: GateThresholds
) -> GateResult:
    """Gate figures of ``candidate`` (quantized encoder, fp32 decoder) against ``reference``."""
    embeddings, masks = _embed_and_segment(candidate, reference.images, "candidate on gate images")
    cosines = tuple(cosine(a, b) for a, b in zip(embeddings, reference.embeddings))
    ious = np.concatenate([mask_ious(a, b) for a, b in zip(masks, reference.masks)])
    miou = benchmark_miou(candidate, miou_images) if miou_images else None
    return GateResult(cosines, tuple(float(v) for v in ious), thresholds, reference.miou, miou)


def _embed_and_segment(predictor: SamPredictor, images: list[np.ndarray], what: str):
    bar = ProgressBar(what, len(images))
    embeddings, masks = [], []
    for rgb in images:
        embedding = predictor.encode(rgb)
        predictor.set_image_embedding(embedding)
        embeddings.append(embedding.embeddings)
        masks.append(prompt_masks(predictor, *rgb.shape[:2]))
        bar.advance()
    return embeddings, masks


def benchmark_miou(predictor: SamPredictor, images: int) -> float:
    """1-point top-mask mIoU on the first ``images`` held-out benchmark scenes (bench/accuracy.py)."""
    from sam_edge.bench.accuracy import EvalSettings, evaluate

    settings = EvalSettings(prompts=("point",), limit=images)
    bar = ProgressBar("benchmark mIoU", images)
    report = evaluate(
        predictor, settings, predictor.metadata.model_id, examples=0, progress=lambda _report, _total: bar.advance()
    )
    return float(report.miou()["point"])
