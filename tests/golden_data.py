"""Golden files: the configs of tests/golden/make_golden.py, their seeded checkpoints and recorded cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"


def golden_spec(name: str):
    """The ModelSpec of a config in tests/golden/make_golden.py (same numbers, our spec types)."""
    from sam_edge.export.specs import OFFICIAL_SPECS, ModelSpec, RepViTSpec, TinyViTSpec, ViTSpec

    small = {
        "vit_small": ModelSpec("vit_small", ViTSpec(64, 2, 2, (1,))),
        "tiny_vit_small": ModelSpec(
            "tiny_vit_small", TinyViTSpec((32, 64, 80, 320), (1, 1, 2, 1), (1, 2, 5, 10), (7, 7, 14, 7))
        ),
        # tests/golden/make_edge_sam_golden.py
        "edge_sam_small": ModelSpec("edge_sam_small", RepViTSpec((16, 24, 32, 40), (1, 2, 2, 2), (0, 1, 3, 5))),
    }
    return small.get(name) or OFFICIAL_SPECS[name]


def write_random_checkpoint(spec, path: Path, seed: int) -> Path:
    """Save an official-format state dict of ``spec`` with the golden files' seeded random weights."""
    import torch

    from sam_edge.export.modeling.sam import Sam
    from sam_edge.export.random_weights import randomize_state_dict

    with torch.device("meta"):
        skeleton = Sam(spec)
    shapes = {k: torch.empty(v.shape, dtype=v.dtype) for k, v in skeleton.state_dict().items()}
    torch.save(randomize_state_dict(shapes, seed), path)
    return path


def load_golden(name: str) -> dict:
    path = GOLDEN_DIR / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"{path.name} not generated (run tests/golden/make_golden.py --full in the reference venv)")
    with np.load(path) as data:
        return dict(data)


def golden_cases(golden: dict, image_prefix: str) -> list[str]:
    """Case names recorded for one image, in recording order."""
    names = []
    for key in golden:
        parts = key.split("/")
        if parts[0] == image_prefix and len(parts) == 3 and parts[1] not in names:
            names.append(parts[1])
    return names


def case_prompts(golden: dict, key: str) -> dict:
    """The predict() keyword arguments recorded for one golden case."""
    return {
        "point_coords": golden.get(f"{key}/coords"),
        "point_labels": golden.get(f"{key}/labels"),
        "box": golden.get(f"{key}/box"),
        "mask_input": golden.get(f"{key}/mask_input"),
        "multimask_output": bool(golden[f"{key}/multimask"]),
    }


def unpack_masks(golden: dict, key: str) -> np.ndarray:
    shape = tuple(golden[f"{key}/masks_shape"])
    return np.unpackbits(golden[f"{key}/masks_packed"], axis=-1, count=shape[-1]).astype(bool).reshape(shape)
