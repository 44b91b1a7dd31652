"""Convert a validated ONNX graph to OpenVINO IR (.xml + .bin), stamp metadata, validate, move into place."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sam_edge.export.onnx_export import ExportValidationError, Progress, ValidationReport, compare_outputs
from sam_edge.runtime.atomic_write import staging_dir
from sam_edge.runtime.errors import SamEdgeError
from sam_edge.runtime.metadata import METADATA_KEY, GraphMetadata
from sam_edge.runtime.openvino_backend import compile_openvino, read_openvino_model


def import_openvino():
    """The openvino module, or a one-line error saying how to install it."""
    try:
        import openvino
    except ImportError:
        raise SamEdgeError("OpenVINO is not installed; pip install 'sam-edge[openvino]' or use --format onnx") from None
    return openvino


def export_openvino(
    onnx_path: Path,
    xml_path: Path,
    metadata: GraphMetadata,
    feeds: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    atol: dict[str, float],
    progress: Progress = print,
) -> ValidationReport:
    """Convert ``onnx_path`` to ``xml_path`` (fp32 weights), validated against the PyTorch ``expected``.

    ``atol`` maps each output name to the max abs difference accepted.
    """
    ov = import_openvino()
    with staging_dir(xml_path.parent, xml_path.name) as work_dir:
        progress(f"  converting {onnx_path.name} to OpenVINO IR")
        # read_model keeps constant subgraphs as computed ops; convert_model folds them, which turns
        # the decoder's dense positional encoding (a few small ops) into a 4 MB constant.
        model = read_openvino_model(onnx_path)
        model.set_rt_info(metadata.to_json(), METADATA_KEY)
        staged = work_dir / xml_path.name
        ov.save_model(model, str(staged), compress_to_fp16=False)
        progress(f"  validating {xml_path.name} in OpenVINO")
        outputs = run_openvino(staged, feeds, metadata.precision)
        report = ValidationReport(xml_path, compare_outputs(outputs, expected), atol)
        progress(f"  {report.summary()}")
        if not report.passed:
            raise ExportValidationError(f"export rejected, nothing written: {report.summary()}")
        os.replace(staged.with_suffix(".bin"), xml_path.with_suffix(".bin"))
        os.replace(staged, xml_path)  # the .xml last: its presence means the pair is complete
        return report


def run_openvino(xml_path: Path, feeds: dict[str, np.ndarray], precision: str = "fp32") -> dict[str, np.ndarray]:
    """All outputs of an OpenVINO IR on ``feeds`` (CPU plugin), compiled as the runtime compiles it:
    in ``precision`` (an fp32 graph in f32 also on CPUs whose plugin would default to bf16)."""
    import_openvino()
    compiled = compile_openvino(xml_path, precision)
    results = compiled(feeds)
    return {output.get_any_name(): np.asarray(results[output]) for output in compiled.outputs}
