"""Make golden records of the OFFICIAL SamAutomaticMaskGenerator driving sam-edge's bundled model.

Random weights are useless for "segment everything" (every point gives nearly the same mask), so the
official generator's own code runs on real masks: an adapter gives it the predictor interface it
calls (set_image, predict_torch, reset_image, transform, model.mask_threshold, device) over the
bundled model's graphs (sam_edge/models/nano, run by sam-edge's torch-free runtime with onnxruntime),
and the official ``Sam.postprocess_masks`` upscales the low-res logits as in segment_anything. Run in a
throw-away venv, never in CI:

    python3 -m venv /tmp/amgvenv && /tmp/amgvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 \
        segment-anything onnxruntime pillow numpy scipy pycocotools opencv-python-headless
    /tmp/amgvenv/bin/python tests/golden/make_amg_golden.py       # writes tests/golden/amg_golden.json.gz

(opencv is what the official code uses for min_mask_region_area.) Each case stores the generator
arguments, where its image comes from and the official records, every segmentation as a COCO RLE
string; tests/test_amg_parity.py runs sam-edge's generator on the same cases and compares.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "amg_golden.json.gz"
ENGINE, THREADS = "onnxruntime", 2  # the parity test opens the model the same way

SAMPLE = {"path": "assets/sample_scene.png"}
SCENE = {"scene_seed": 7}
CASES = [
    # name, image, generator arguments (the bundled model's IoU head does not rank masks: low thresholds)
    (
        "grid",
        SAMPLE,
        dict(points_per_side=12, pred_iou_thresh=0.15, stability_score_thresh=0.4, output_mode="coco_rle"),
    ),
    (
        "crops_small_regions",
        SCENE,
        dict(
            points_per_side=8,
            crop_n_layers=1,
            crop_n_points_downscale_factor=2,
            pred_iou_thresh=0.05,
            stability_score_thresh=0.2,
            min_mask_region_area=100,
            output_mode="uncompressed_rle",
        ),
    ),
    (
        "no_filters_binary",
        SAMPLE,
        dict(points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.0, output_mode="binary_mask"),
    ),
    ("scene_default_thresholds", SCENE, dict(points_per_side=4, output_mode="coco_rle")),
]


def load_sam_edge_runtime():
    """sam_edge.runtime and sam_edge.scenes from this checkout, without installing it (both are torch-free)."""
    sys.path.insert(0, str(ROOT))
    import sam_edge

    for name in ("runtime", "scenes"):
        spec = importlib.util.spec_from_file_location(
            f"sam_edge.{name}", ROOT / name / "__init__.py", submodule_search_locations=[str(ROOT / name)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        setattr(sam_edge, name, module)


class _ImageEncoder:
    img_size = 1024


class GraphsModel:
    """What the official generator and predictor read from a Sam model."""

    mask_threshold = 0.0
    image_format = "RGB"
    image_encoder = _ImageEncoder()


class GraphsPredictor:
    """segment_anything.SamPredictor's interface over sam-edge's graphs (low-res logits), with the
    official post-processing (Sam.postprocess_masks: bilinear to 1024, crop, bilinear to the image)."""

    def __init__(self, predictor) -> None:
        from segment_anything.utils.transforms import ResizeLongestSide

        self.ours = predictor
        self.model = GraphsModel()
        self.transform = ResizeLongestSide(self.model.image_encoder.img_size)
        self.device = torch.device("cpu")
        self.reset_image()

    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        self.ours.set_image(np.ascontiguousarray(image))
        self.original_size, self.input_size = image.shape[:2], self.ours.input_size
        self.is_image_set = True

    def reset_image(self) -> None:
        self.is_image_set, self.original_size, self.input_size = False, None, None
        self.ours.reset_image()

    @torch.no_grad()
    def predict_torch(
        self, point_coords, point_labels, boxes=None, mask_input=None, multimask_output=True, return_logits=False
    ):
        from segment_anything.modeling import Sam

        from sam_edge.runtime.prompts import DecoderFeeds

        batch = point_coords.shape[0]
        coords = np.concatenate([point_coords.numpy(), np.zeros((batch, 1, 2))], axis=1).astype(np.float32)
        labels = np.concatenate([point_labels.numpy(), -np.ones((batch, 1))], axis=1).astype(np.float32)
        feeds = DecoderFeeds(coords, labels, np.zeros((batch, 1, 256, 256), np.float32), np.zeros(batch, np.float32))
        scores, low_res = self.ours.decoder.decode(self.ours.image_embedding, feeds)
        tokens = slice(1, None) if multimask_output else slice(0, 1)
        low_res_t = torch.from_numpy(np.ascontiguousarray(low_res[:, tokens]))
        masks = Sam.postprocess_masks(self.model, low_res_t, self.input_size, self.original_size)
        if not return_logits:
            masks = masks > self.model.mask_threshold
        return masks, torch.from_numpy(np.ascontiguousarray(scores[:, tokens])), low_res_t


def load_case_image(spec: dict) -> np.ndarray:
    from PIL import Image

    if "path" in spec:
        with Image.open(ROOT / spec["path"]) as image:
            return np.asarray(image.convert("RGB"))
    from sam_edge.scenes import generate_scene

    return generate_scene(spec["scene_seed"]).image


def compact(record: dict, image_size: tuple[int, int]) -> dict:
    """The record with its segmentation as a COCO RLE string (whatever the output mode gave)."""
    from pycocotools import mask as mask_utils

    segmentation = record["segmentation"]
    if isinstance(segmentation, np.ndarray):
        rle = mask_utils.encode(np.asfortranarray(segmentation.astype(np.uint8)))
    elif isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, *image_size)
    else:
        rle = segmentation
    counts = rle["counts"].decode("ascii") if isinstance(rle["counts"], bytes) else rle["counts"]
    return {
        **record,
        "segmentation": {"size": list(image_size), "counts": counts},
        "segmentation_type": type(segmentation).__name__
        if isinstance(segmentation, np.ndarray)
        else ("list" if isinstance(segmentation["counts"], list) else "str"),
    }


def main() -> None:
    load_sam_edge_runtime()
    import segment_anything
    from segment_anything import SamAutomaticMaskGenerator

    from sam_edge.runtime.predictor import SamPredictor

    torch.set_num_threads(THREADS)
    predictor = GraphsPredictor(SamPredictor("nano", backend=ENGINE, threads=THREADS))
    cases = []
    for name, image_spec, kwargs in CASES:
        image = load_case_image(image_spec)
        generator = SamAutomaticMaskGenerator(GraphsModel(), **kwargs)
        generator.predictor = predictor
        started = time.perf_counter()
        records = generator.generate(image)
        print(f"{name}: {len(records)} masks in {time.perf_counter() - started:.1f} s", flush=True)
        cases.append(
            {
                "name": name,
                "image": image_spec,
                "image_size": list(image.shape[:2]),
                "kwargs": kwargs,
                "records": [compact(r, image.shape[:2]) for r in records],
            }
        )
    made_with = {
        "segment_anything": getattr(segment_anything, "__version__", "1.0"),
        "torch": torch.__version__,
        "model": "nano (bundled)",
        "engine": ENGINE,
        "threads": THREADS,
    }
    with gzip.open(OUT, "wt") as handle:
        json.dump({"made_with": made_with, "cases": cases}, handle)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
