"""The bundled default model `nano`: present as package data, self-describing, and it segments the sample scene."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli

from sam_edge.runtime import default_model
from sam_edge.runtime.errors import ModelFileError
from sam_edge.runtime.model_dir import find_model_files
from sam_edge.runtime.predictor import SamPredictor
from sam_edge.scenes import generate_scene
from sam_edge.scenes.generator import SceneConfig
from sam_edge.scenes.preview import SAMPLE_SCENE_SEED, SAMPLE_SCENE_SIZE

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SCENE = REPO / "assets" / "sample_scene.png"
PACKAGE_DATA_LIMIT_BYTES = 30 * 1000 * 1000  # the bundled model's budget: <= 30 MB of graphs in the wheel


def sample_scene():
    height, width = SAMPLE_SCENE_SIZE
    config = SceneConfig(long_side=(max(SAMPLE_SCENE_SIZE),) * 2, aspect_ratio=(width / height,) * 2)
    return generate_scene(SAMPLE_SCENE_SEED, config)


def test_bundled_model_has_onnx_and_openvino_graphs_within_budget():
    directory = default_model.bundled_model_dir()
    names = sorted(path.name for path in directory.iterdir())
    graphs = [
        f"nano.{part}.fp32.{ext}"
        for part in ("encoder", "decoder_image", "decoder_prompt")
        for ext in ("onnx", "xml", "bin")
    ]
    assert set(graphs) <= set(names), names
    assert sum(path.stat().st_size for path in directory.iterdir()) <= PACKAGE_DATA_LIMIT_BYTES
    for backend in ("onnxruntime", "openvino"):
        files = find_model_files(directory, backend)
        assert files.split and files.encoder.name.startswith("nano.encoder.fp32")


def test_default_model_metadata_names_a_trained_checkpoint():
    predictor = SamPredictor(default_model.resolve_model_dir(None), threads=2)
    meta = predictor.metadata
    assert meta.model_type == "nano" and meta.part == "decoder_prompt"
    assert len(meta.checkpoint_sha256) == 64 and meta.model_id == f"nano-{meta.checkpoint_sha256[:12]}"  # not random


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_default_model_segments_an_object_of_the_sample_scene(backend, tmp_path):
    # The README's main command: segment runs with no --model. The clicked object is the yellow ring
    # (its deepest point is 208, 185). The shipped model covers about a quarter of it (IoU 0.25 when
    # bundled; holed shapes are its weakest kind): a regression check of the bundled files, not an
    # accuracy target.
    scene = sample_scene()
    instance = scene.instance_masks[[index for index, mask in enumerate(scene.instance_masks) if mask[185, 208]][-1]]
    status, stdout, stderr = run_cli(
        "segment",
        SAMPLE_SCENE,
        "--point",
        "208,185",
        "--backend",
        backend,
        "--threads",
        "2",
        "--json",
        tmp_path / "result.json",
        "--overlay",
        tmp_path / "overlay.png",
    )
    assert status == 0, stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["model_id"].startswith("nano-") and (tmp_path / "overlay.png").stat().st_size > 0
    best = max(result["masks"], key=lambda mask: mask["score"])
    predicted = decode_rle(best["segmentation"])
    iou = np.logical_and(predicted, instance).sum() / np.logical_or(predicted, instance).sum()
    assert iou > 0.2, iou


def decode_rle(rle: dict) -> np.ndarray:
    """COCO uncompressed-or-compressed RLE -> bool [H, W] (pycocotools is a dev dependency)."""
    from pycocotools import mask as coco_mask

    encoded = dict(rle, counts=rle["counts"].encode() if isinstance(rle["counts"], str) else rle["counts"])
    return coco_mask.decode(encoded).astype(bool)


def test_missing_default_model_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(default_model, "bundled_model_dir", lambda name="nano": tmp_path / "absent")
    with pytest.raises(ModelFileError, match="default model 'nano' is not bundled"):
        default_model.resolve_model_dir(None)
