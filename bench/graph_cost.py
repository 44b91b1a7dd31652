"""What one run of an ONNX graph must compute and move: matrix-product FLOPs and bytes, node by node.

Counted on the graph onnxruntime runs (its fused form, written beside the profile; without the blocked
memory layouts of the highest optimisation level, whose channel padding is not the model's work), with
the concrete shapes of one profiled run: activations from the profile's ``input_type_shape`` /
``output_type_shape``, weights from the optimised graph's initializers. FLOPs count multiply-adds of
matrix products and convolutions as 2; everything else (element-wise, normalisation, softmax, shape
ops) is counted by the bytes it reads and writes, since memory bounds it.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sam_edge.runtime.backends import import_onnxruntime, resolve_threads

KERNEL_SUFFIX = "_kernel_time"
MATMUL_OPS = {
    "MatMul",
    "FusedMatMul",
    "MatMulInteger",
    "QLinearMatMul",
    "MatMulIntegerToFloat",
    "DynamicQuantizeMatMul",
    "Gemm",
    "FusedGemm",
    "MatMulNBits",
}
CONV_OPS = {"Conv", "FusedConv", "QLinearConv", "ConvInteger", "NhwcFusedConv"}
TRANSPOSED_CONV_OPS = {"ConvTranspose"}


@dataclass(frozen=True)
class NodeCost:
    """One node of one run: its op type, matrix-product FLOPs (0 for other ops) and bytes read and
    written (activations in, weights, outputs), each tensor counted once per node."""

    name: str
    op_type: str
    flops: float
    bytes: float


@dataclass(frozen=True)
class GraphCost:
    graph: str  # file name
    nodes: tuple[NodeCost, ...]

    @property
    def flops(self) -> float:
        return sum(node.flops for node in self.nodes)

    @property
    def bytes(self) -> float:
        return sum(node.bytes for node in self.nodes)


def graph_cost(path: Path, feeds: dict[str, np.ndarray], threads: int | None = None) -> GraphCost:
    """The cost of one run of ``path`` on ``feeds`` (the second run is counted: the first allocates)."""
    ort = import_onnxruntime()
    with tempfile.TemporaryDirectory(prefix="sam-edge-cost.") as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads = resolve_threads(threads)
        options.log_severity_level = 3
        # fusions (level 2) but no layout transforms: blocked layouts pad channels, and padding is not work
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for _ in range(2):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
        weights = _node_weight_shapes(Path(folder) / "optimized.onnx")
    return GraphCost(Path(path).name, tuple(_costs(_last_run(events), weights)))


def _node_weight_shapes(optimized: Path) -> dict[str, tuple[list[str], dict[str, list[int]], int]]:
    """node name -> (its input names, shapes of those inputs that are initializers, their bytes)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(optimized), load_external_data=False)
    initializers = {
        tensor.name: (list(tensor.dims), math.prod(tensor.dims) * _itemsize(helper, tensor.data_type))
        for tensor in model.graph.initializer
    }
    nodes = {}
    for node in model.graph.node:
        used = [name for name in node.input if name in initializers]
        nodes[node.name] = (
            list(node.input),
            {name: initializers[name][0] for name in used},
            sum(initializers[name][1] for name in used),
        )
    return nodes


def _itemsize(helper, data_type: int) -> int:
    return np.dtype(helper.tensor_dtype_to_np_dtype(data_type)).itemsize


def _last_run(events: list[dict]) -> list[dict]:
    """The kernel events of the last run: each node's last occurrence."""
    last: dict[str, dict] = {}
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith(KERNEL_SUFFIX):
            last[event["name"]] = event
    return list(last.values())


def _costs(events: list[dict], weights: dict) -> list[NodeCost]:
    costs = []
    for event in events:
        args, name = event["args"], event["name"][: -len(KERNEL_SUFFIX)]
        input_names, weight_shapes, weight_bytes = weights.get(name, ([], {}, 0))
        inputs = _input_shapes(args.get("input_type_shape", []), input_names, weight_shapes)
        outputs = [_shape(item) for item in args.get("output_type_shape", [])]
        # the profile's parameter_size misses prepacked weights: count them from the graph's initializers
        moved = float(args.get("activation_size", 0) or 0) + float(args.get("output_size", 0) or 0) + weight_bytes
        costs.append(NodeCost(name, args["op_name"], product_flops(args["op_name"], inputs, outputs), moved))
    return costs


def _shape(item: dict) -> list[int]:
    return list(next(iter(item.values()))) if item else []


def _input_shapes(profiled: list[dict], names: list[str], weight_shapes: dict[str, list[int]]) -> list[list[int]]:
    """Shapes of every input in order: the profile lists the activations, the graph the weights."""
    activations = iter(_shape(item) for item in profiled)
    if not names:  # node not found in the optimised graph: the activations are all we know
        return list(activations)
    return [weight_shapes[name] if name in weight_shapes else next(activations, []) for name in names if name]


def product_flops(op_type: str, inputs: list[list[int]], outputs: list[list[int]]) -> float:
    """2 x multiply-adds of a matrix product or convolution with these shapes; 0 for any other op."""
    if not outputs or not outputs[0] or not inputs:
        return 0.0
    out = outputs[0]
    if op_type in MATMUL_OPS and inputs[0]:
        first = inputs[0]
        inner = first[-1] if len(first) < 2 or first[-2] == out[-2] else first[-2]  # transA puts K first
        return 2.0 * math.prod(out) * inner
    if op_type in CONV_OPS and len(inputs) > 1 and len(inputs[1]) >= 3:
        return 2.0 * math.prod(out) * math.prod(inputs[1][1:])  # weight [Cout, Cin/groups, kh, kw]
    if op_type in TRANSPOSED_CONV_OPS and len(inputs) > 1 and len(inputs[1]) >= 3:
        return 2.0 * math.prod(inputs[0]) * math.prod(inputs[1][1:])  # weight [Cin, Cout/groups, kh, kw]
    return 0.0
