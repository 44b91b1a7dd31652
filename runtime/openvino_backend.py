"""OpenVINO behind the backend seam: reading IR, the one compile configuration, what the kernels run in.

Every OpenVINO model sam-edge compiles (the runtime, export validation, quantize timing, the bench
and the engine measurement all come through here) gets ``openvino_config``: the LATENCY hint, an
explicit thread count and an explicit inference precision. The last one matters: on CPUs with native
bf16 (AVX512_BF16, AMX) the CPU plugin defaults to bf16 for f32 graphs, which moved exported
encoders by 4e-2..8e-2 and flipped mask pixels; an f32 graph must compute in f32 on every CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sam_edge.runtime.backends import parse_metadata, resolve_threads
from sam_edge.runtime.errors import ModelFileError, SamEdgeError
from sam_edge.runtime.metadata import METADATA_KEY, GraphMetadata

# The inference precision per graph precision; anything else runs in f32. Only an explicit bf16
# graph computes in bf16: fp16 graphs hold fp16 weights, and int8 graphs run their quantized ops in
# int8 and the rest in f32, exactly as the quantize gate measured them.
INFERENCE_PRECISION = {"bf16": "bf16"}
# The summary of what kernels run in counts float ops, and integer ops only where they are products
# (an int8 graph's quantized FullyConnected / Convolution); index and shape arithmetic is left out.
_FLOAT_PRECISIONS = {"f32", "bf16", "f16", "f64"}
_PRODUCT_OPS = {"FullyConnected", "Convolution", "MatMul", "GroupConvolution", "Deconvolution"}


def import_openvino():
    """The openvino module, or a one-line error saying how to install it."""
    try:
        import openvino
    except ImportError:
        raise SamEdgeError("OpenVINO is not installed; pip install 'sam-edge[openvino]' or use onnxruntime") from None
    return openvino


def read_openvino_model(path: Path, core=None):
    """The ov.Model of an ``.xml`` IR (or an ``.onnx`` file); a one-line ModelFileError when unreadable."""
    ov = import_openvino()
    try:
        return (core or ov.Core()).read_model(str(path))
    except Exception as error:  # OpenVINO raises RuntimeError subclasses with long texts
        raise ModelFileError(f"{path}: OpenVINO cannot load it ({str(error).splitlines()[0][:200]})") from None


def model_metadata(model, path: Path) -> GraphMetadata:
    """The sam_edge record in an ov.Model's rt_info (``path`` names the file in errors): stamped there
    by export for IR, under ``framework`` where OpenVINO read an ONNX file's metadata_props."""
    for key in (METADATA_KEY, ["framework", METADATA_KEY]):
        if model.has_rt_info(key):
            return parse_metadata(model.get_rt_info(key).astype(str), path)
    return parse_metadata(None, path)


def read_openvino_metadata(path: Path) -> GraphMetadata:
    """A graph's metadata record read from its IR, without compiling it."""
    return model_metadata(read_openvino_model(path), path)


def inference_precision(precision: str, core=None) -> str:
    """The INFERENCE_PRECISION_HINT for a graph of ``precision`` on this CPU.

    "bf16" only for a bf16 graph on a CPU whose plugin offers bf16 (elsewhere f32: exact, and no
    slower than emulating bf16); "f32" for everything else.
    """
    wanted = INFERENCE_PRECISION.get(precision, "f32")
    if wanted == "bf16" and "BF16" not in cpu_capabilities(core):
        return "f32"
    return wanted


def cpu_capabilities(core=None) -> list[str]:
    """The CPU plugin's OPTIMIZATION_CAPABILITIES on this machine (e.g. FP32, BF16, INT8)."""
    ov = import_openvino()
    return list((core or ov.Core()).get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def openvino_config(precision: str, threads: int | None = None, core=None) -> dict:
    """Single-request latency, ``threads`` (default: physical cores), the graph's own precision."""
    return {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": resolve_threads(threads),
        "INFERENCE_PRECISION_HINT": inference_precision(precision, core),
    }


def compile_openvino(model, precision: str, threads: int | None = None, core=None):
    """``model`` (an ov.Model, or a path to .xml / .onnx) compiled for the CPU with ``openvino_config``."""
    ov = import_openvino()
    core = core or ov.Core()
    source = str(model) if isinstance(model, (str, Path)) else model
    try:
        return core.compile_model(source, "CPU", openvino_config(precision, threads, core))
    except Exception as error:  # OpenVINO raises RuntimeError subclasses with long texts
        raise ModelFileError(f"{model}: OpenVINO cannot compile it ({str(error).splitlines()[0][:200]})") from None


def executed_precision(compiled) -> str:
    """What the compiled model's float kernels run in, read back from the plugin's runtime model.

    "f32" when they all agree, else e.g. "bf16 67 ops, f32 120 ops" (most frequent first). Integer
    index and shape arithmetic is left out; integer matrix products (int8 graphs) are counted.
    """
    counts: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if "runtimePrecision" not in info:
            continue
        precision = info["runtimePrecision"].astype(str)
        if precision not in _FLOAT_PRECISIONS and op.get_type_name() not in _PRODUCT_OPS:
            continue
        counts[precision] = counts.get(precision, 0) + 1
    if len(counts) <= 1:
        return next(iter(counts), "f32")
    return ", ".join(f"{name} {count} ops" for name, count in sorted(counts.items(), key=lambda item: -item[1]))


class OpenVinoBackend:
    """An OpenVINO CompiledModel on the CPU plugin, tuned for single-request latency."""

    name = "openvino"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        ov = import_openvino()
        core = ov.Core()
        model = read_openvino_model(path, core)
        self.metadata = model_metadata(model, path)
        self.compiled = compile_openvino(model, self.metadata.precision, threads, core)
        self.request = self.compiled.create_infer_request()
        self.path = path
        self.input_names = [i.get_any_name() for i in self.compiled.inputs]

    def run(self, output_names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = self.request.infer(feeds)
        by_name = {output.get_any_name(): results[output] for output in self.compiled.outputs}
        # copy: the request reuses its output buffers on the next call
        return [np.array(by_name[name]) for name in output_names]

    def executed_precision(self) -> str:
        """The precisions this graph's kernels run in on this CPU (see ``executed_precision``)."""
        return executed_precision(self.compiled)
