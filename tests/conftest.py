"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from golden_data import golden_spec, load_golden, write_random_checkpoint


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
