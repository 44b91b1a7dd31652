"""SAM 2 golden files (tests/golden/make_sam2_golden.py): their specs, checkpoints and recorded cases."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"
OFFICIAL_KEYS = GOLDEN_DIR / "sam2_official_keys.json.gz"


def sam2_golden_spec(name: str):
    """The Sam2ModelSpec of a config in make_sam2_golden.py (the same numbers as its hydra overrides)."""
    from sam_edge.export.sam2_specs import SAM2_SPECS, HieraSpec, Sam2ModelSpec

    small = {
        "sam2.1_small": Sam2ModelSpec(
            "sam2.1_small", "2.1", HieraSpec(32, 2, (1, 2, 3, 2), (5,), pos_embed_size=(7, 7))
        ),
        "sam2_small": Sam2ModelSpec(
            "sam2_small", "2", HieraSpec(24, 1, (2, 1, 2, 1), (4,), window_spec=(8, 4, 16, 8), pos_embed_size=(14, 14))
        ),
    }
    return small.get(name) or SAM2_SPECS[name]


def export_random_sam2(out_dir: Path, name: str = "sam2.1_small", seed: int = 1) -> Path:
    """A config of ``sam2_golden_spec`` with seeded random weights, exported to ONNX (encoder + decoder) in
    ``out_dir``; the model id is ``<name>-random-seed<seed>``, so references can rebuild the weights."""
    from sam_edge.export.api import export_model, load_model

    model = load_model(model_type=sam2_golden_spec(name), random_seed=seed)
    export_model(model, out_dir, "onnx", decoder="full", progress=lambda message: None, time_backends=False)
    return out_dir


def load_sam2_golden(name: str) -> dict:
    path = GOLDEN_DIR / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"{path.name} not generated (run tests/golden/make_sam2_golden.py in the reference venv)")
    with np.load(path) as data:
        return dict(data)


def official_key_shapes() -> dict[str, dict[str, tuple[int, ...]]]:
    """Config name (e.g. "sam2.1_hiera_t") -> the official state dict's key -> shape."""
    with gzip.open(OFFICIAL_KEYS, "rt") as handle:
        record = json.load(handle)
    return {name: {key: tuple(shape) for key, shape in keys.items()} for name, keys in record.items()}


def official_format_state_dict(shapes: dict, seed: int, scaled: dict[str, float] | None = None) -> dict:
    """The golden files' checkpoint: every official key with export/random_weights.py's tensor, scaled as recorded."""
    import torch

    from sam_edge.export.random_weights import randomize_state_dict

    skeleton = {key: torch.empty(tuple(shape)) for key, shape in shapes.items()}
    state_dict = randomize_state_dict(skeleton, seed)
    return {key: value * (scaled or {}).get(key, 1.0) for key, value in state_dict.items()}


def write_sam2_golden_checkpoint(name: str, path: Path) -> Path:
    """Save ``{"model": state_dict}`` exactly as the golden script fed the official loader."""
    import torch

    golden = load_sam2_golden(name)
    shapes = json.loads(str(golden["state_dict_shapes"]))
    state_dict = official_format_state_dict(shapes, int(golden["seed"]), json.loads(str(golden["scaled_tensors"])))
    torch.save({"model": state_dict}, path)
    return path


def zero_stride_official(name: str) -> dict:
    """An official config's state dict whose tensors all view one float (no memory)."""
    import torch

    return {key: torch.zeros(()).expand(shape) for key, shape in official_key_shapes()[name].items()}


def sam2_cases(golden: dict, prefix: str) -> list[str]:
    """Case names recorded for one image, in recording order."""
    names = []
    for key in golden:
        parts = key.split("/")
        if parts[0] == prefix and len(parts) == 3 and parts[1] not in names:
            names.append(parts[1])
    return names


def unpack_masks(golden: dict, key: str) -> np.ndarray:
    shape = tuple(golden[f"{key}/masks_shape"])
    return np.unpackbits(golden[f"{key}/masks_packed"], axis=-1, count=shape[-1]).astype(bool).reshape(shape)


def make_large_image(height: int = 1280, width: int = 1100) -> np.ndarray:
    """The golden script's integer-only image larger than 1024 (same formula)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.int64)
    red = (xx * 7 + yy * 3) % 256
    green = ((xx // 5) ^ (yy // 3)) % 256
    blue = (xx * yy // 97) % 256
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)
