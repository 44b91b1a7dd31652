"""Graph files of a quantized model: metadata stamps, copies with their weight files, sizes, node counts."""

from __future__ import annotations

import collections
import shutil
from pathlib import Path

from sam_edge.quantize.apply import EXTERNAL_DATA_BYTES, read_openvino_model, save_openvino_model
from sam_edge.runtime.metadata import METADATA_KEY, GraphMetadata

# Ops that compute in integer arithmetic or carry (de)quantization, per format.
ONNX_QUANTIZED_OPS = {
    "MatMulInteger",
    "ConvInteger",
    "QLinearMatMul",
    "QLinearConv",
    "DynamicQuantizeLinear",
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat",
}
FLOAT_COMPUTE_OPS = {"MatMul", "Gemm", "Conv", "ConvTranspose", "MatMulNBits"}
OPENVINO_COMPUTE_OPS = {"MatMul", "Convolution", "GroupConvolution"}


def companion_files(graph: Path) -> list[Path]:
    """The graph and the files it needs beside it (.onnx.data, .bin)."""
    extra = graph.with_name(graph.name + ".data") if graph.suffix == ".onnx" else graph.with_suffix(".bin")
    return [graph] + ([extra] if extra.exists() else [])


def graph_bytes(graph: Path) -> int:
    return sum(path.stat().st_size for path in companion_files(graph))


def stamp_metadata(graph: Path, target: Path, metadata: GraphMetadata) -> Path:
    """Write ``graph`` to ``target`` with ``metadata`` as its sam_edge record (``target`` may equal ``graph``)."""
    if graph.suffix == ".onnx":
        import onnx

        model = onnx.load(str(graph))
        del model.metadata_props[:]
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, metadata.to_json()
        onnx.save(
            model,
            str(target),
            save_as_external_data=model.ByteSize() > EXTERNAL_DATA_BYTES,
            all_tensors_to_one_file=True,
            location=f"{target.name}.data",
        )
        return target
    model = read_openvino_model(graph)
    model.set_rt_info(metadata.to_json(), METADATA_KEY)
    if target == graph:  # OpenVINO keeps the .bin mapped while the model lives: write beside, then move
        temporary = graph.with_name(f".stamp-{graph.name}")
        save_openvino_model(model, temporary)
        del model
        move_graph(temporary, graph)
        return graph
    return save_openvino_model(model, target)


def copy_graph(graph: Path, directory: Path, backend: str) -> Path:
    """Copy ``graph`` into ``directory`` for ``backend``: ONNX to IR when the backend is OpenVINO."""
    target = directory / graph.with_suffix(".xml" if backend == "openvino" else ".onnx").name
    if graph.suffix == target.suffix:
        for path in companion_files(graph):
            shutil.copy2(path, directory / path.name)
        return target
    return save_openvino_model(read_openvino_model(graph), target)


def remove_graph(graph: Path) -> None:
    """Delete ``graph`` and its weight file (the graph first: without it the weights are no model)."""
    for path in companion_files(graph):
        path.unlink(missing_ok=True)


def move_graph(graph: Path, target: Path) -> Path:
    """Rename ``graph`` and its weight file to ``target`` (the graph itself last: it marks completeness)."""
    files = companion_files(graph)
    for path in files[1:]:
        suffix = ".data" if graph.suffix == ".onnx" else ".bin"
        path.replace(target.with_name(target.name + ".data") if suffix == ".data" else target.with_suffix(".bin"))
    graph.replace(target)
    return target


def node_summary(graph: Path) -> dict[str, dict[str, int]]:
    """{"quantized": {op: count}, "float": {op: count}}: the compute ops in integer and in float form.

    ONNX: integer ops and (De)QuantizeLinear nodes, and MatMul/Conv/Gemm fed by a DequantizeLinear in
    QDQ graphs; a float op is one with no dequantized input. OpenVINO: MatMul/Convolution with an input
    from FakeQuantize or a Convert of an int8 constant (compressed weights) count as quantized.
    """
    return _onnx_summary(graph) if graph.suffix == ".onnx" else _openvino_summary(graph)


def _onnx_summary(graph: Path) -> dict[str, dict[str, int]]:
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    producers = {output: node.op_type for node in model.graph.node for output in node.output}
    quantized, floating = collections.Counter(), collections.Counter()
    for node in model.graph.node:
        if node.op_type in ONNX_QUANTIZED_OPS:
            quantized[node.op_type] += 1
        elif node.op_type in FLOAT_COMPUTE_OPS:
            fed = any(producers.get(name) == "DequantizeLinear" for name in node.input)
            (quantized if fed else floating)[node.op_type + (" (QDQ)" if fed else "")] += 1
        elif node.op_type == "Cast":
            floating["Cast"] += 1
    return {"quantized": dict(sorted(quantized.items())), "float": dict(sorted(floating.items()))}


def _openvino_summary(graph: Path) -> dict[str, dict[str, int]]:
    model = read_openvino_model(graph)
    quantized, floating = collections.Counter(), collections.Counter()
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "FakeQuantize":
            quantized[kind] += 1
        elif kind in OPENVINO_COMPUTE_OPS:
            fed = any(_is_quantized_source(value.get_node()) for value in op.input_values())
            (quantized if fed else floating)[kind] += 1
    return {"quantized": dict(sorted(quantized.items())), "float": dict(sorted(floating.items()))}


def _is_quantized_source(node, depth: int = 5) -> bool:
    """A FakeQuantize, or an integer constant, within ``depth`` steps upstream: compressed weights arrive as
    Constant(u8) -> Convert -> Subtract -> Multiply -> Convert(f32)."""
    kind = node.get_type_name()
    if kind == "FakeQuantize":
        return True
    if kind == "Constant":
        return node.get_output_element_type(0).get_type_name() in ("i8", "u8", "i4", "u4")
    if depth == 0 or kind not in ("Convert", "Subtract", "Multiply", "Reshape", "Transpose"):
        return False
    return any(_is_quantized_source(value.get_node(), depth - 1) for value in node.input_values())
