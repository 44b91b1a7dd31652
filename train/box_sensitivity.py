"""Does a model read its box prompts? Held-out box mIoU with tight, jittered, grown and shrunk boxes.

    .venv/bin/python train/box_sensitivity.py --model sam_edge/models/nano --scenes 40

A model that uses the corners loses IoU when the box is shrunk into the object (or grown far past
it); one whose box mIoU barely moves under these changes has not learned the corner embeddings.
Boxes are in original pixels: tight = first and last set pixel (bench/accuracy.py's ``tight_boxes``);
``jitter_sam`` = SAM's training noise (std 10% of the side, at most 20 px of the 1024 input frame);
``jitter_2x`` = twice that cap; ``grow5`` / ``shrink5`` = every side moved out / in by 5%.
Single-mask output (token 0), as SAM answers a box.
"""

from __future__ import annotations

import argparse

import numpy as np

from sam_edge.bench.accuracy import tight_boxes
from sam_edge.runtime.predictor import SamPredictor
from sam_edge.scenes.benchmark import HeldOutBenchmark

VARIANTS = ("tight", "jitter_sam", "jitter_2x", "grow5", "shrink5")


def variants(box: np.ndarray, scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The box variants of one tight box [4] (x0, y0, x1, y1); ``scale`` = 1024 / the image's longest side."""
    side = np.array([box[2] - box[0], box[3] - box[1]] * 2, np.float32)
    return {
        "tight": box,
        "jitter_sam": box + rng.normal(0, 1, 4) * np.minimum(0.1 * side, 20 / scale),
        "jitter_2x": box + rng.normal(0, 1, 4) * np.minimum(0.1 * side, 40 / scale),
        "grow5": box + np.array([-1, -1, 1, 1]) * 0.05 * side,
        "shrink5": box + np.array([1, 1, -1, -1]) * 0.05 * side,
    }


def ordered_inside(box: np.ndarray, height: int, width: int) -> np.ndarray:
    box = np.array([min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])])
    return np.clip(box, 0, [width - 1, height - 1, width - 1, height - 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory (default: the bundled model)")
    parser.add_argument("--scenes", type=int, default=40, help="held-out scenes (the first N of the benchmark)")
    args = parser.parse_args(argv)
    predictor = SamPredictor(args.model)
    rng = np.random.default_rng(0)
    ious: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for scene in HeldOutBenchmark(limit=args.scenes):
        predictor.set_image(scene.image)
        height, width = scene.image.shape[:2]
        for target, box in zip(scene.instance_masks, tight_boxes(scene.instance_masks)):
            for name, variant in variants(box, 1024 / max(height, width), rng).items():
                mask = predictor.predict(box=ordered_inside(variant, height, width), multimask_output=False).masks[0]
                union = np.count_nonzero(mask | target)
                ious[name].append(np.count_nonzero(mask & target) / union if union else 1.0)
    count = len(ious["tight"])
    print(f"box mIoU on {args.scenes} held-out scenes ({count} instances):")
    for name in VARIANTS:
        print(f"  {name:10s} {np.mean(ious[name]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
