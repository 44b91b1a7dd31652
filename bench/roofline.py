"""How far a graph runs from what this CPU can do: peaks measured in the same run, and a per-node floor.

Peaks (same thread count as the scenarios; the fastest of several calls, since a peak is what the
machine can attain and a shared host's noise only ever slows a call down):
- GEMM rate per precision on the shapes SAM's graphs run: a graph holding one matrix product,
  executed by the engine that would run it (onnxruntime fp32 and u8 x s8 int8; OpenVINO bf16 where the
  CPU has native bf16); the best shape's rate is the attainable one. numpy's matmul (BLAS) times the
  same fp32 shapes as an independent check of the engine's figure.
- memory bandwidth: a chain of element-wise Adds (each reads two tensors, writes one) in
  onnxruntime, once on tensors the size of SAM's activations (4 MiB, in cache) and once on tensors
  that leave the last-level cache (128 MiB).

Floor of a graph = sum over its nodes of max(FLOPs / GEMM rate, bytes / bandwidth), with the cache
bandwidth for nodes whose traffic fits the last-level cache: every node at best bound by compute or
by memory, and no credit for fusions the engine did not make. ``fraction`` = floor / measured time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sam_edge.bench.graph_cost import GraphCost
from sam_edge.bench.timing import best_seconds
from sam_edge.runtime.backends import import_onnxruntime, resolve_threads
from sam_edge.runtime.cpu import cpu_flags

# [M, K] x [K, N]: image tokens through a 256-wide projection, the thin per-prompt products
# (8 heads x a few tokens), and a ViT MLP.
GEMM_SHAPES = ((4096, 256, 256), (4096, 256, 64), (4096, 768, 3072))
# (MiB per tensor, Adds chained): tensors the size of SAM's [4096, 256] activations, and ones that
# leave the last-level cache.
CACHE_ADDS, DRAM_ADDS = (4, 16), (128, 4)
INT8_FLAGS = {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"}
BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


@dataclass(frozen=True)
class Peaks:
    """Measured here: GFLOP/s per (precision, "MxKxN"), the numpy fp32 check, and GB/s by tensor size."""

    gemm_gflops: dict[str, dict[str, float]]
    numpy_gflops: dict[str, float]
    bandwidth_gbs: dict[str, float]  # "cache", "dram"
    cache_bytes: int
    threads: int
    notes: list[str] = field(default_factory=list)

    def best(self, precision: str = "fp32") -> float:
        return max(self.gemm_gflops.get(precision, {}).values(), default=0.0)

    def agreement(self) -> float:
        """Engine fp32 rate / numpy rate on the best shape of each (1.0: they agree)."""
        numpy_best = max(self.numpy_gflops.values(), default=0.0)
        return self.best("fp32") / numpy_best if numpy_best else float("nan")

    def to_dict(self) -> dict:
        return {
            "gemm_gflops": self.gemm_gflops,
            "numpy_gflops": self.numpy_gflops,
            "bandwidth_gbs": self.bandwidth_gbs,
            "cache_bytes": self.cache_bytes,
            "threads": self.threads,
            "engine_vs_numpy": self.agreement(),
            "notes": self.notes,
        }


def floor_ms(cost: GraphCost, peaks: Peaks, precision: str = "fp32") -> float:
    """The per-node roofline floor of one run of ``cost``'s graph, in ms."""
    rate = peaks.best(precision) * 1e9
    seconds = 0.0
    for node in cost.nodes:
        bandwidth = peaks.bandwidth_gbs["cache" if node.bytes <= peaks.cache_bytes else "dram"] * 1e9
        seconds += max(node.flops / rate if rate else 0.0, node.bytes / bandwidth)
    return seconds * 1e3


def measure_peaks(threads: int | None = None, rounds: int = 7) -> Peaks:
    """This CPU's attainable GEMM rates and bandwidths (a few seconds)."""
    threads = resolve_threads(threads)
    flags, notes = cpu_flags(), []
    gemm = {"fp32": {_key(s): _ort_gemm_gflops(s, threads, rounds, "fp32") for s in GEMM_SHAPES}}
    if flags & INT8_FLAGS:
        gemm["int8"] = {_key(s): _ort_gemm_gflops(s, threads, rounds, "int8") for s in GEMM_SHAPES}
    else:
        notes.append("int8 not measured: no VNNI / AMX / dot-product instructions")
    if flags & BF16_FLAGS:
        try:
            gemm["bf16"] = {_key(s): _openvino_bf16_gflops(s, threads, rounds) for s in GEMM_SHAPES}
        except ImportError:
            notes.append("bf16 not measured: OpenVINO is not installed")
    else:
        notes.append("bf16 not measured: no AVX512_BF16 / AMX")
    numpy_rates = {_key(s): _numpy_gemm_gflops(s, rounds) for s in GEMM_SHAPES}
    bandwidth = {
        "cache": _ort_add_gbs(*CACHE_ADDS, threads, rounds),
        "dram": _ort_add_gbs(*DRAM_ADDS, threads, 3),
    }
    return Peaks(gemm, numpy_rates, bandwidth, last_level_cache_bytes(), threads, notes)


def last_level_cache_bytes() -> int:
    """Size of the largest cache the kernel reports (32 MiB where none is readable)."""
    sizes = []
    for path in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = path.read_text().strip().upper()
        scale = {"K": 1024, "M": 1024**2}.get(text[-1:], 1)
        digits = text.rstrip("KMB")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes, default=32 * 1024**2)


def _key(shape: tuple[int, int, int]) -> str:
    return "x".join(str(side) for side in shape)


def _session(model, threads: int):
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _ort_gemm_gflops(shape: tuple[int, int, int], threads: int, rounds: int, precision: str) -> float:
    from onnx import TensorProto, helper, numpy_helper

    m, k, n = shape
    rng = np.random.default_rng(0)
    if precision == "int8":  # u8 activations x s8 weights: the VNNI / AMX kernels' layout
        a = rng.integers(0, 255, (m, k), dtype=np.uint8)
        weight = numpy_helper.from_array(rng.integers(-127, 127, (k, n), dtype=np.int8), "w")
        node, a_type, out_type = (
            helper.make_node("MatMulInteger", ["a", "w"], ["y"]),
            TensorProto.UINT8,
            TensorProto.INT32,
        )
    else:
        a = rng.standard_normal((m, k), dtype=np.float32)
        weight = numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), "w")
        node, a_type, out_type = helper.make_node("MatMul", ["a", "w"], ["y"]), TensorProto.FLOAT, TensorProto.FLOAT
    graph = helper.make_graph(
        [node],
        "gemm",
        [helper.make_tensor_value_info("a", a_type, [m, k])],
        [helper.make_tensor_value_info("y", out_type, [m, n])],
        [weight],
    )
    session = _session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), threads)
    return 2 * m * k * n / best_seconds(lambda: session.run(None, {"a": a}), rounds) / 1e9


def _openvino_bf16_gflops(shape: tuple[int, int, int], threads: int, rounds: int) -> float:
    import openvino as ov
    import openvino.opset13 as ops

    m, k, n = shape
    rng = np.random.default_rng(0)
    parameter = ops.parameter([m, k], ov.Type.f32, name="a")
    product = ops.matmul(parameter, ops.constant(rng.standard_normal((k, n), dtype=np.float32)), False, False)
    model = ov.Model([product], [parameter], "gemm")
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "bf16"}
    request = ov.Core().compile_model(model, "CPU", config).create_infer_request()
    a = rng.standard_normal((m, k), dtype=np.float32)
    return 2 * m * k * n / best_seconds(lambda: request.infer({0: a}), rounds) / 1e9


def _numpy_gemm_gflops(shape: tuple[int, int, int], rounds: int) -> float:
    m, k, n = shape
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    return 2 * m * k * n / best_seconds(lambda: np.matmul(a, b, out=out), rounds) / 1e9


def _ort_add_gbs(tensor_mib: int, chain: int, threads: int, rounds: int) -> float:
    """GB/s of ``chain`` element-wise Adds in one graph, each reading two ``tensor_mib`` tensors and
    writing one: a chain, because a lone Add also pays for allocating and first touching its output
    on every run (4 MiB: 11 GB/s alone, 32 GB/s chained on a 2-core Sapphire Rapids)."""
    from onnx import TensorProto, helper

    count = tensor_mib * 1024 * 1024 // 4
    nodes, previous = [], "a"
    for index in range(chain):
        nodes.append(helper.make_node("Add", [previous, "b"], [f"y{index}"], name=f"add{index}"))
        previous = f"y{index}"
    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [count]) for name in ("a", "b")]
    graph = helper.make_graph(
        nodes, "adds", inputs, [helper.make_tensor_value_info(previous, TensorProto.FLOAT, [count])]
    )
    session = _session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), threads)
    feeds = {"a": np.ones(count, np.float32), "b": np.ones(count, np.float32)}
    return chain * 3 * count * 4 / best_seconds(lambda: session.run(None, feeds), rounds) / 1e9
