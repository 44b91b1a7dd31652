"""The roofline of the bench: operations and bytes counted from the graphs, the per-node floor, the report."""

from __future__ import annotations

import numpy as np
import pytest

from sam_edge.bench.graph_cost import GraphCost, NodeCost, graph_cost, product_flops
from sam_edge.bench.roofline import Peaks, floor_ms

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def one_node_graph(tmp_path, node, inputs, output, weights):
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(output[0], TensorProto.FLOAT, output[1])],
        [numpy_helper.from_array(w, n) for n, w in weights.items()],
    )
    path = tmp_path / f"{node.op_type}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("case", ["matmul", "conv", "conv_transpose", "add"])
def test_graph_cost_counts_products_from_the_shapes_of_a_real_run(case, tmp_path):
    rng = np.random.default_rng(0)
    if case == "matmul":  # [64, 32] x [32, 16]
        node, x = (
            helper.make_node("MatMul", ["x", "w"], ["y"], name="mm"),
            rng.standard_normal((64, 32), dtype=np.float32),
        )
        path = one_node_graph(
            tmp_path, node, [("x", [64, 32])], ("y", [64, 16]), {"w": rng.standard_normal((32, 16), dtype=np.float32)}
        )
        expected = 2 * 64 * 16 * 32
    elif case == "conv":  # 3 -> 8 channels, 3x3, padded: 16x16 outputs
        node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])
        x = rng.standard_normal((1, 3, 16, 16), dtype=np.float32)
        path = one_node_graph(
            tmp_path,
            node,
            [("x", [1, 3, 16, 16])],
            ("y", [1, 8, 16, 16]),
            {"w": rng.standard_normal((8, 3, 3, 3), dtype=np.float32)},
        )
        expected = 2 * (8 * 16 * 16) * (3 * 3 * 3)
    elif case == "conv_transpose":  # SAM's upscaling: kernel = stride = 2
        node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", strides=[2, 2])
        x = rng.standard_normal((1, 8, 8, 8), dtype=np.float32)
        path = one_node_graph(
            tmp_path,
            node,
            [("x", [1, 8, 8, 8])],
            ("y", [1, 4, 16, 16]),
            {"w": rng.standard_normal((8, 4, 2, 2), dtype=np.float32)},
        )
        expected = 2 * (8 * 8 * 8) * (4 * 2 * 2)
    else:  # element-wise: no product FLOPs, bytes only
        node, x = (
            helper.make_node("Add", ["x", "w"], ["y"], name="add"),
            rng.standard_normal((256, 256), dtype=np.float32),
        )
        path = one_node_graph(
            tmp_path, node, [("x", [256, 256])], ("y", [256, 256]), {"w": np.ones((256, 256), np.float32)}
        )
        expected = 0
    cost = graph_cost(path, {"x": x}, threads=1)
    (counted,) = [n for n in cost.nodes if n.op_type == node.op_type]  # onnxruntime may add layout reorders
    assert counted.flops == cost.flops == expected
    model = onnx.load(str(path))
    output = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    weight = numpy_helper.to_array(model.graph.initializer[0])
    if len(cost.nodes) == 1:  # no reorder: input, weights and output, each once
        assert counted.bytes == x.nbytes + weight.nbytes + 4 * np.prod(output)
    else:  # a blocked layout pads channels: at least the same traffic
        assert counted.bytes >= x.nbytes + weight.nbytes


def test_product_flops_finds_the_inner_dimension_of_a_transposed_first_operand():
    assert product_flops("FusedMatMul", [[4, 32, 64], [4, 32, 16]], [[4, 64, 16]]) == 2 * 4 * 64 * 16 * 32
    assert product_flops("Gemm", [[64, 32], [32, 16]], [[64, 16]]) == 2 * 64 * 16 * 32
    assert product_flops("Softmax", [[64, 32]], [[64, 32]]) == 0


def test_floor_takes_per_node_the_slower_of_compute_and_memory():
    peaks = Peaks(
        {"fp32": {"a": 100.0, "b": 200.0}},
        {"a": 150.0},
        {"cache": 100.0, "dram": 10.0},
        cache_bytes=1_000_000,
        threads=2,
    )
    compute_bound = NodeCost("mm", "MatMul", flops=2e9, bytes=1e5)  # 2e9 / 200e9 = 10 ms > 1e5 / 100e9
    in_cache = NodeCost("add", "Add", flops=0, bytes=1e6)  # 1e6 / 100e9 = 0.01 ms
    beyond_cache = NodeCost("add2", "Add", flops=0, bytes=1e8)  # 1e8 / 10e9 = 10 ms
    assert floor_ms(GraphCost("g", (compute_bound, in_cache, beyond_cache)), peaks) == pytest.approx(10 + 0.01 + 10)
    assert peaks.best("fp32") == 200.0 and peaks.agreement() == pytest.approx(200 / 150)


def test_bench_reports_each_roofline_scenario_against_its_floor(model_dir):
    from sam_edge.bench.report import roofline_text
    from sam_edge.bench.runner import BenchSettings, run_benchmarks

    settings = BenchSettings(
        quick=True,
        target_ms=1e6,
        encoder_budget_ms=1e6,
        scenarios=("encoder", "predict_1_point", "everything"),
        measure_rss=False,
        threads=2,
    )
    report = run_benchmarks(model_dir, settings, progress=lambda message: None)
    peaks, scenarios = report.roofline["peaks"], report.roofline["scenarios"]
    assert set(peaks["gemm_gflops"]["fp32"]) == {"4096x256x256", "4096x256x64", "4096x768x3072"}
    assert set(scenarios) == {"encoder", "predict_1_point", "everything"}
    everything = scenarios["everything"]  # quick: a 4 x 4 grid
    assert everything["prompts"] == 16 and everything["prompt_stage_floor_ms"] > 0
    assert everything["floor_ms"] == pytest.approx(
        scenarios["encoder"]["floor_ms"] + everything["prompt_stage_floor_ms"]
    )
    # one prompt's floor is the 1-point predict's without upscaling its masks: a little less
    assert everything["prompt_stage_floor_ms"] / 16 < scenarios["predict_1_point"]["floor_ms"]
    medians = {r.name: r.stats()["median"] * 1e3 for r in report.results}
    for name, floor in scenarios.items():
        assert floor["gflop"] > 0 and floor["floor_ms"] > 0
        assert floor["fraction"] == pytest.approx(floor["floor_ms"] / medians[name])
    text = roofline_text(report)
    assert "| predict_1_point |" in text and "numpy fp32" in text
    assert "everything: of its floor, " in text and "is the prompt stage (16 prompts x one prompt's floor)" in text
