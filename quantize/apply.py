"""Apply one recipe to an fp32 encoder graph and write the result (no gate, no metadata: see pipeline.py).

onnxruntime recipes read and write ``.onnx``; OpenVINO recipes read the IR (or the ONNX graph when the
model has no IR) and write ``.xml`` + ``.bin``. Missing optional packages give one-line errors that
say what to install.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from sam_edge.quantize.recipes import (
    Fp16Weights,
    NncfInt8,
    OrtDynamicInt8,
    OrtStaticInt8,
    OvBf16,
    OvWeightCompression,
    Recipe,
)
from sam_edge.runtime.backends import read_graph_metadata
from sam_edge.runtime.errors import SamEdgeError
from sam_edge.runtime.metadata import METADATA_KEY

# Protobuf refuses single files over 2 GB; vit_l/vit_h graphs keep their weights in a side file.
EXTERNAL_DATA_BYTES = 1_800_000_000


def apply_recipe(recipe: Recipe, source: Path, target: Path, calibration: Sequence[dict[str, np.ndarray]]) -> Path:
    """Quantize ``source`` (fp32 encoder graph) into ``target`` with ``recipe``; returns ``target``.

    ``calibration``: encoder feed dicts, used by the recipes with ``needs_calibration``.
    """
    if recipe.needs_calibration and not calibration:
        raise SamEdgeError(f"recipe {recipe.name} needs calibration images; none were given")
    if isinstance(recipe, OrtDynamicInt8):
        return _ort_dynamic(recipe, source, target)
    if isinstance(recipe, OrtStaticInt8):
        return _ort_static(recipe, source, target, calibration)
    if isinstance(recipe, Fp16Weights):
        return _fp16(source, target)
    if isinstance(recipe, NncfInt8):
        return _nncf_int8(recipe, source, target, calibration)
    if isinstance(recipe, OvWeightCompression):
        return _ov_weights(recipe, source, target)
    if isinstance(recipe, OvBf16):  # the graph is unchanged: its bf16 metadata makes the runtime compile it so
        return save_openvino_model(read_openvino_model(source), target)
    raise SamEdgeError(f"no implementation for recipe type {type(recipe).__name__}")


def check_backend_installed(recipe: Recipe) -> None:
    """One-line error naming the package when the recipe's toolchain is not installed."""
    needed = {"onnxruntime": ("onnxruntime.quantization", "onnxruntime"), "openvino": ("openvino", "openvino")}
    module, package = needed[recipe.backend]
    modules = [module, "onnx"] if recipe.backend == "onnxruntime" else [module]
    if isinstance(recipe, (NncfInt8, OvWeightCompression)):
        modules.append("nncf")
        package = "nncf openvino"
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            raise SamEdgeError(
                f"recipe {recipe.name} needs {name}, which is not installed; pip install 'sam-edge[quantize]' "
                f"({package})"
            ) from None


def _quant_type(name: str):
    from onnxruntime.quantization import QuantType

    return {"QUInt8": QuantType.QUInt8, "QInt8": QuantType.QInt8}[name]


def _is_large(source: Path) -> bool:
    data = source.with_name(source.name + ".data")
    return source.stat().st_size + (data.stat().st_size if data.exists() else 0) > EXTERNAL_DATA_BYTES


@contextlib.contextmanager
def _quiet_root_logger():
    """onnxruntime.quantization warns on the root logger to run its pre-processing, on every call."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _ort_dynamic(recipe: OrtDynamicInt8, source: Path, target: Path) -> Path:
    from onnxruntime.quantization import quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(
            source,
            target,
            op_types_to_quantize=list(recipe.op_types),
            per_channel=recipe.per_channel,
            weight_type=_quant_type(recipe.weight_type),
            use_external_data_format=_is_large(source),
        )
    return target


class _FeedReader:
    """onnxruntime's CalibrationDataReader protocol over a list of feed dicts."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # not needed: each calibrator reads the images once
        pass


def _ort_static(recipe: OrtStaticInt8, source: Path, target: Path, calibration) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    method = {m.name: m for m in CalibrationMethod}[recipe.calibrate_method]
    images = calibration[: recipe.max_calibration_images] if recipe.max_calibration_images else calibration
    with contextlib.redirect_stdout(io.StringIO()), _quiet_root_logger():  # the calibrators print per-tensor tables
        quantize_static(
            source,
            target,
            _FeedReader(images),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(recipe.op_types),
            per_channel=recipe.per_channel,
            activation_type=_quant_type(recipe.activation_type),
            weight_type=_quant_type(recipe.weight_type),
            calibrate_method=method,
            use_external_data_format=_is_large(source),
        )
    return target


def _fp16(source: Path, target: Path) -> Path:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(
        model, str(target), save_as_external_data=model.ByteSize() > EXTERNAL_DATA_BYTES, location=f"{target.name}.data"
    )
    return target


def read_openvino_model(source: Path):
    """The OpenVINO model of ``source`` (.xml or .onnx) with the sam_edge metadata in its rt_info."""
    from sam_edge.runtime.openvino_backend import read_openvino_model as read_model

    model = read_model(source)
    if source.suffix == ".onnx" and not model.has_rt_info(METADATA_KEY):
        model.set_rt_info(read_graph_metadata(source).to_json(), METADATA_KEY)
    return model


def save_openvino_model(model, target: Path) -> Path:
    import openvino as ov

    ov.save_model(model, str(target), compress_to_fp16=False)
    return target


def _nncf_int8(recipe: NncfInt8, source: Path, target: Path, calibration) -> Path:
    import nncf

    model = read_openvino_model(source)
    input_name = model.inputs[0].get_any_name()
    dataset = nncf.Dataset(list(calibration), lambda feed: {input_name: feed[input_name]})
    alpha = -1.0 if recipe.smooth_quant_alpha is None else recipe.smooth_quant_alpha  # -1: SmoothQuant off
    advanced = nncf.AdvancedQuantizationParameters(smooth_quant_alphas=nncf.AdvancedSmoothQuantParameters(matmul=alpha))
    preset = {"mixed": nncf.QuantizationPreset.MIXED, "performance": nncf.QuantizationPreset.PERFORMANCE}[recipe.preset]
    quantized = nncf.quantize(
        model,
        dataset,
        preset=preset,
        subset_size=len(calibration),
        model_type=nncf.ModelType.TRANSFORMER if recipe.model_type_transformer else None,
        fast_bias_correction=recipe.fast_bias_correction,
        advanced_parameters=advanced,
        ignored_scope=nncf.IgnoredScope(types=list(recipe.ignored_types), validate=False)
        if recipe.ignored_types
        else None,
    )
    return save_openvino_model(quantized, target)


def _ov_weights(recipe: OvWeightCompression, source: Path, target: Path) -> Path:
    import nncf

    mode = {"INT8_ASYM": nncf.CompressWeightsMode.INT8_ASYM, "INT8_SYM": nncf.CompressWeightsMode.INT8_SYM}[recipe.mode]
    return save_openvino_model(nncf.compress_weights(read_openvino_model(source), mode=mode), target)
