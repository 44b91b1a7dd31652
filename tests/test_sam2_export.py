"""The SAM 2 encoder graph: exported to ONNX, validated against our PyTorch, metadata stamped.

The small config runs in CI; hiera_t sits behind ``slow``. The ONNX graph is also run on a golden
image and compared with the official features (through our PyTorch, which equals them exactly).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sam2_golden_data import load_sam2_golden, sam2_golden_spec, write_sam2_golden_checkpoint

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


def export_config(name: str, tmp_path):
    from sam_edge.export.sam2_checkpoint import load_sam2
    from sam_edge.export.sam2_export import export_sam2_encoder, sam2_graph_metadata

    checkpoint = write_sam2_golden_checkpoint(name, tmp_path / f"{name}.pt")
    model, sha256 = load_sam2(checkpoint, sam2_golden_spec(name))
    path = tmp_path / f"{name}.sam2_encoder.fp32.onnx"
    metadata = sam2_graph_metadata(model, f"{name}-{sha256[:12]}", sha256)
    report = export_sam2_encoder(model, path, metadata, progress=lambda message: None)
    return model, path, report


def check_export(name: str, tmp_path) -> None:
    import onnx
    import torch

    from sam_edge.export.onnx_export import run_onnxruntime
    from sam_edge.export.sam2_export import SAM2_ENCODER
    from sam_edge.export.sam2_predictor import preprocess_sam2
    from sam_edge.runtime.metadata import METADATA_KEY

    model, path, report = export_config(name, tmp_path)
    assert report.passed and set(report.max_abs_diff) == set(SAM2_ENCODER.output_names)
    assert max(report.max_abs_diff.values()) < 1e-3
    graph = onnx.load(str(path), load_external_data=False)
    assert [i.name for i in graph.graph.input] == ["image"]
    assert [o.name for o in graph.graph.output] == SAM2_ENCODER.output_names
    record = json.loads({p.key: p.value for p in graph.metadata_props}[METADATA_KEY])
    assert record["part"] == "sam2_encoder" and record["model_type"] == name
    assert record["extra"]["resize"] == "squash" and record["spec"]["version"] == model.spec.version

    golden = load_sam2_golden(name)
    prefix = sorted(key.split("/")[0] for key in golden if key.endswith("/image"))[0]
    image = preprocess_sam2(golden[f"{prefix}/image"])
    outputs = run_onnxruntime(path, {"image": image.numpy()})
    with torch.no_grad():
        expected = model.encode_image(image)
    strides = json.loads(str(golden["feature_strides"]))
    for output_name, reference in zip(SAM2_ENCODER.output_names, expected):
        assert outputs[output_name].shape == tuple(reference.shape)
        np.testing.assert_allclose(outputs[output_name], reference.numpy(), atol=1e-3, err_msg=output_name)
        stride = strides[output_name]
        official = golden[f"{prefix}/{output_name}_strided"]
        np.testing.assert_allclose(outputs[output_name][..., ::stride, ::stride], official, atol=1e-3)


def test_small_encoder_exports_and_validates(tmp_path):
    check_export("sam2.1_small", tmp_path)


@pytest.mark.slow
def test_hiera_t_encoder_exports_and_validates(tmp_path):
    check_export("sam2.1_hiera_t", tmp_path)


def test_failed_validation_writes_nothing(tmp_path, monkeypatch):
    from sam_edge.export import sam2_export
    from sam_edge.export.onnx_export import ExportValidationError

    monkeypatch.setattr(
        sam2_export,
        "SAM2_ENCODER_RECIPE",
        sam2_export.GraphRecipe(sam2_export.SAM2_ENCODER, sam2_export.Sam2EncoderGraph, atol=0.0),
    )
    with pytest.raises(ExportValidationError, match="export rejected, nothing written: "):
        export_config("sam2.1_small", tmp_path)
    assert not list(tmp_path.glob("*.onnx"))
