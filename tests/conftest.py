"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from golden_data import golden_spec, load_golden, write_random_checkpoint
from PIL import Image
from predictor_checks import SAMPLE


@pytest.fixture(scope="session")
def golden_checkpoint(tmp_path_factory):
    """Factory: config name -> path of its random-weight checkpoint in official format (cached)."""
    cache: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in cache:
            golden = load_golden(name)
            path = tmp_path_factory.mktemp("ckpt") / f"{name}.pth"
            cache[name] = write_random_checkpoint(golden_spec(name), path, int(golden["seed"]))
        return cache[name]

    return make


@pytest.fixture(scope="session")
def exported_golden_model(tmp_path_factory, golden_checkpoint):
    """Factory: golden config name -> model dir with its ONNX + OpenVINO graphs (exported once per session)."""
    cache: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in cache:
            from sam_edge.export.api import export_model, load_model

            model = load_model(golden_checkpoint(name), golden_spec(name))
            out_dir = tmp_path_factory.mktemp(f"model_{name}")
            # no backend timing: tests that do not name a backend must get onnxruntime, not a noisy measurement
            export_model(model, out_dir, fmt="both", progress=lambda message: None, time_backends=False)
            cache[name] = out_dir
        return cache[name]

    return make


# The vit_small model and the sample image, for the runtime tests (a module may define its own model_dir)


@pytest.fixture(scope="module")
def model_dir(exported_golden_model) -> Path:
    return exported_golden_model("vit_small")


@pytest.fixture(scope="module")
def sample_rgb() -> np.ndarray:
    return np.asarray(Image.open(SAMPLE).convert("RGB"))


@pytest.fixture(scope="module")
def predictor(model_dir, sample_rgb):
    """One onnxruntime predictor with the sample image set; tests must not change its image."""
    from sam_edge.runtime.predictor import SamPredictor

    predictor = SamPredictor(model_dir, threads=2)
    predictor.set_image(sample_rgb)
    return predictor


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory) -> Path:
    """The same architecture with other weights (seed 7), ONNX only."""
    from sam_edge.export.api import export_model, load_model

    out_dir = tmp_path_factory.mktemp("model_seed7")
    export_model(
        load_model(model_type=golden_spec("vit_small"), random_seed=7),
        out_dir,
        fmt="onnx",
        progress=lambda message: None,
    )
    return out_dir
