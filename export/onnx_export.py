"""Export one graph to ONNX, stamp its metadata, validate it against PyTorch, then move it into place.

Nothing is written under the final name unless validation passed: the graph is built in a temporary
directory beside the target and renamed at the end (data file first, then the .onnx).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from sam_edge.export.graphs import RECIPES
from sam_edge.export.modeling.sam import Sam
from sam_edge.export.modeling.vit_encoder import head_chunks
from sam_edge.runtime.atomic_write import staging_dir
from sam_edge.runtime.errors import SamEdgeError
from sam_edge.runtime.metadata import METADATA_KEY, GraphMetadata

OPSET = 17
# ViT encoders are traced with global attention one head at a time: the same function, with 1/12 of
# the [HW, HW] attention maps alive at once (vit_b peak RSS, see export/modeling/vit_encoder.py).
GLOBAL_ATTENTION_HEAD_CHUNK = 1
# Protobuf caps a single file at 2 GiB; larger graphs (vit_h, vit_l) keep weights in <name>.onnx.data.
EXTERNAL_DATA_THRESHOLD_BYTES = 1_800_000_000

Progress = Callable[[str], None]


class ExportValidationError(SamEdgeError, RuntimeError):
    """An exported graph disagrees with PyTorch beyond the tolerance."""


@dataclass(frozen=True)
class ValidationReport:
    """Max abs difference per output between a graph and PyTorch on the example feeds, and its tolerance."""

    path: Path
    max_abs_diff: dict[str, float]
    atol: dict[str, float]

    @property
    def passed(self) -> bool:
        return all(value <= self.atol[name] for name, value in self.max_abs_diff.items())

    def summary(self) -> str:
        diffs = ", ".join(
            f"{name} {value:.2e} (tol {self.atol[name]:.0e})" for name, value in self.max_abs_diff.items()
        )
        return f"{self.path.name}: max abs diff vs PyTorch {diffs}"


def torch_reference(sam: Sam, part: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PyTorch outputs of ``part`` on ``feeds``, keyed by the interface's output names."""
    recipe = RECIPES[part]
    module = recipe.reference_module(sam)
    with torch.no_grad():
        outputs = module(*(torch.from_numpy(feeds[name]) for name in recipe.reference_input_names()))
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return {name: out.numpy() for name, out in zip(recipe.interface.output_names, outputs)}


def compare_outputs(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> dict[str, float]:
    """Max abs difference per output name (shape mismatch counts as infinite)."""
    diffs = {}
    for name, reference in expected.items():
        value = actual[name]
        same_shape = value.shape == reference.shape
        diffs[name] = float(np.max(np.abs(value - reference))) if same_shape else float("inf")
    return diffs


def export_onnx(
    sam: Sam, part: str, path: Path, metadata: GraphMetadata, progress: Progress = print
) -> ValidationReport:
    """Write ``part`` of ``sam`` to ``path`` (.onnx) with ``metadata``; raises ExportValidationError."""
    recipe = RECIPES[part]
    feeds = recipe.example_feeds(sam)
    expected = torch_reference(sam, part, feeds)
    with staging_dir(path.parent, path.name) as work_dir:
        progress(f"  tracing {part} to ONNX (opset {OPSET})")
        traced = work_dir / "traced.onnx"
        with (
            head_chunks(sam.image_encoder, GLOBAL_ATTENTION_HEAD_CHUNK)
            if part == "encoder"
            else contextlib.nullcontext()
        ):
            _trace(recipe.module_type(sam).eval(), recipe, feeds, traced)
        staged = _stamp_metadata(traced, work_dir / path.name, metadata)
        progress(f"  validating {path.name} in onnxruntime")
        report = ValidationReport(
            path, compare_outputs(run_onnxruntime(staged, recipe.graph_feeds(feeds)), expected), recipe.tolerances()
        )
        progress(f"  {report.summary()}")
        if not report.passed:
            raise ExportValidationError(f"export rejected, nothing written: {report.summary()}")
        _move_into_place(staged, path)
        return report


def _trace(module: torch.nn.Module, recipe, feeds: dict[str, np.ndarray], out_path: Path) -> None:
    interface = recipe.interface
    args = tuple(torch.from_numpy(feeds[name]) for name in interface.input_names)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about shape-derived Python ints are expected here
        torch.onnx.export(
            module,
            args,
            str(out_path),
            input_names=interface.input_names,
            output_names=interface.output_names,
            dynamic_axes=interface.dynamic_axes(),
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def _stamp_metadata(traced: Path, staged: Path, metadata: GraphMetadata) -> Path:
    import onnx

    model = onnx.load(str(traced))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    model.producer_name = "sam-edge"
    external = model.ByteSize() > EXTERNAL_DATA_THRESHOLD_BYTES
    onnx.save(
        model, str(staged), save_as_external_data=external, all_tensors_to_one_file=True, location=f"{staged.name}.data"
    )
    return staged


def _move_into_place(staged: Path, path: Path) -> None:
    data = staged.with_name(staged.name + ".data")
    if data.exists():
        os.replace(data, path.with_name(path.name + ".data"))
    os.replace(staged, path)


def run_onnxruntime(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All outputs of an ONNX graph on ``feeds`` (CPU execution provider)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))
