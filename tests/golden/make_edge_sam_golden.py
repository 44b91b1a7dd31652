"""Make golden outputs of the OFFICIAL EdgeSAM code (chongzhou96/EdgeSAM) on seeded random weights.

EdgeSAM is not on PyPI. Its commit 03465ff is the last whose imports need only torch, torchvision and
timm (later ones import mmdet). Run in a throw-away venv, never in CI:

    git clone https://github.com/chongzhou96/EdgeSAM /tmp/edgesam && git -C /tmp/edgesam checkout 03465ff
    python -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 timm
    PYTHONPATH=/tmp/edgesam /tmp/refvenv/bin/python tests/golden/make_edge_sam_golden.py           # small (CI)
    PYTHONPATH=/tmp/edgesam /tmp/refvenv/bin/python tests/golden/make_edge_sam_golden.py --full    # edge_sam + keys

The files have make_golden.py's layout (same images, prompts, strides and seed), so one test reads
both. EdgeSAM's predictor takes ``num_multimask_outputs`` (3 or 1) where SAM's takes
``multimask_output``; the adapter below maps one onto the other and records the official IoU
predictions as the scores (``use_stability_score=False``, its default).
"""

from __future__ import annotations

import argparse
import gzip
import json

import numpy as np
import torch
from make_golden import HERE, make_image, write_golden

# name: (widths, depths, squeeze-excite blocks); the full one is RepViT-M1, as build_edge_sam makes it.
CONFIGS = {
    "edge_sam_small": ((16, 24, 32, 40), (1, 2, 2, 2), (0, 1, 3, 5)),
    "edge_sam": ((48, 96, 192, 384), (3, 4, 16, 3), (0, 4, 8, 10, 12, 14, 16, 18, 20, 24)),
}


def rep_vit_cfgs(widths, depths, se_blocks) -> list[list[int]]:
    """The official cfg rows [kernel, expansion, channels, SE, HS, stride] of a RepViT with these stages."""
    rows = []
    for stage, (width, depth) in enumerate(zip(widths, depths)):
        for position in range(depth):
            stride = 2 if stage > 0 and position == 0 else 1
            rows.append([3, 2, width, int(len(rows) in se_blocks), int(stage >= 2), stride])
    return rows


def build_official_edge_sam(name: str):
    from edge_sam.build_sam import _build_sam
    from edge_sam.modeling import RepViT

    RepViT.arch_settings[name] = rep_vit_cfgs(*CONFIGS[name])
    encoder = RepViT(arch=name, img_size=1024, upsample_mode="bicubic")
    return _build_sam(encoder, checkpoint=None)


class SamStylePredictor:
    """EdgeSAM's SamPredictor behind segment_anything's predict() signature (what run_cases calls)."""

    def __init__(self, model) -> None:
        from edge_sam import SamPredictor

        self.predictor = SamPredictor(model)

    def set_image(self, image: np.ndarray) -> None:
        self.predictor.set_image(image)

    def get_image_embedding(self) -> torch.Tensor:
        return self.predictor.get_image_embedding()

    def predict(self, point_coords, point_labels, box, mask_input, multimask_output):
        return self.predictor.predict(
            point_coords=point_coords,
            point_labels=point_labels,
            box=box,
            mask_input=mask_input,
            num_multimask_outputs=3 if multimask_output else 1,
        )


def make_golden(name: str, images: list[np.ndarray]) -> None:
    write_golden(name, build_official_edge_sam(name), SamStylePredictor, images)


def write_official_keys() -> None:
    """Every key and shape of the official build_edge_sam() state dict: the layout edge_sam.pth has."""
    from edge_sam.build_sam import build_edge_sam

    state = build_edge_sam(checkpoint=None).state_dict()
    out = HERE / "edge_sam_official_keys.json.gz"
    with gzip.open(out, "wt", encoding="utf-8") as handle:
        json.dump({key: list(tensor.shape) for key, tensor in state.items()}, handle)
    print(f"wrote {out} ({len(state)} keys)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full-size edge_sam (slow tests)")
    args = parser.parse_args()
    torch.manual_seed(0)
    images = [make_image(240, 320, 1), make_image(150, 100, 2)]
    if args.full:
        make_golden("edge_sam", images[:1])
        write_official_keys()
    else:
        make_golden("edge_sam_small", images)


if __name__ == "__main__":
    main()
