"""One seam for inference engines: ``run(output_names, feeds) -> list[np.ndarray]``.

onnxruntime (CPU execution provider) runs ``.onnx`` files and OpenVINO (CPU plugin, LATENCY hint)
runs ``.xml`` IR; both are imported lazily so users install only the one they need. Threads default
to the number of physical cores (``SAM_EDGE_THREADS`` overrides it), since SMT siblings slow GEMMs.

A graph runs in the precision its metadata names, on every CPU. OpenVINO's CPU plugin would run an
f32 graph in bfloat16 on CPUs with native bf16 (AVX512_BF16, AMX) unless told otherwise, so every
OpenVINO model sam-edge compiles goes through ``compile_openvino``, which pins the inference
precision (runtime/openvino_backend.py). onnxruntime's CPU provider has one such down-cast (bf16
fast-math GEMMs on arm64), off by default; the sessions pin it off too, so the setting cannot drift.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from sam_edge.runtime.errors import InvalidInputError, ModelFileError, SamEdgeError
from sam_edge.runtime.metadata import METADATA_KEY, GraphMetadata
from sam_edge.runtime.subnormals import FlushingThread

BACKENDS = ("onnxruntime", "openvino")
EXTENSIONS = {"onnxruntime": ".onnx", "openvino": ".xml"}
ORT_ARM64_BF16_FASTMATH = "mlas.enable_gemm_fastmath_arm64_bfloat16"
# Trained weights make subnormal activations, which slow x86 products (runtime/subnormals.py).
# onnxruntime's pool threads flush them with this entry. The thread that calls run() takes part in
# each run, so runs are handed to a thread of sam-edge's own that flushes too (FlushingThread); the
# caller's thread keeps its IEEE behaviour. The entry would also set the flush on the thread that
# creates the first session of the process, for good, so sessions are created on that private thread
# (or, where flushing is unsupported, on a short-lived one: _created_on_a_thread_of_its_own).
ORT_DENORMALS_AS_ZERO = "session.set_denormal_as_zero"


def _created_on_a_thread_of_its_own(create):
    """``create()`` run on a short-lived thread: what it does to that thread's floating-point state
    (onnxruntime's flush-to-zero) stays there. Its exception, if any, is raised here."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = create()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="sam-edge-session-create")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class Backend(Protocol):
    name: str  # "onnxruntime" or "openvino"
    path: Path
    metadata: GraphMetadata
    input_names: list[str]

    def run(self, output_names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...

    def executed_precision(self) -> str: ...  # what the kernels compute in on this CPU, e.g. "f32"


def physical_core_count() -> int:
    """Physical cores available to this process (logical CPUs / SMT siblings), at least 1."""
    try:
        logical = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in logical:
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        cores.add(siblings.read_text().strip() if siblings.exists() else str(cpu))
    return max(1, len(cores))


def resolve_threads(threads: int | None) -> int:
    """Explicit value, else $SAM_EDGE_THREADS, else the physical core count."""
    if threads is None:
        text = os.environ.get("SAM_EDGE_THREADS", "").strip() or "0"
        if not text.lstrip("-").isdigit():
            raise InvalidInputError(
                f"SAM_EDGE_THREADS must be a positive integer (or unset for all physical cores); got {text!r}"
            )
        threads = int(text) or physical_core_count()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise InvalidInputError(f"threads must be a positive integer; got {threads!r}")
    return int(threads)


class OnnxRuntimeBackend:
    """An onnxruntime InferenceSession on the CPU with a fixed intra-op thread count."""

    name = "onnxruntime"

    def __init__(
        self, path: Path, threads: int | None = None, spinning: bool = True, lean_memory: bool = False
    ) -> None:
        """Two settings for graphs that are not run once per prompt, each measured on 2 cores:

        ``spinning`` False (the encoder, the decoder's image stage): idle workers sleep at once instead
        of spinning. Each session owns its pool, and a spinning pool takes the cores from the session
        that runs next (a mask-input prompt, image stage + prompt stage: 83 -> 47 ms on vit_t).

        ``lean_memory`` True (the encoders, the largest graphs):
        - no memory pattern: with one, the second run allocates the planned block on top of the arena
          the first run grew (vit_t 411 -> 687 MB, vit_b 1.59 -> 2.52 GB resident after two images);
        - no constant folding: it only turns the export's shape arithmetic into constants, and with
          every shape static onnxruntime's plan keeps far more activations resident (encoder alone,
          after one run: vit_t 402 -> 314 MB, vit_b 1587 -> 907 MB; same speed, same outputs);
        - the arena shrinks back after each run: the encoder's activations are returned before the
          decoder allocates its own, instead of both arenas staying resident (vit_t encoder alone:
          226 -> ~150 MB resident between images).
        Small graphs keep both: the image stage ran ~7% faster per mask-input prompt with them.
        """
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = resolve_threads(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry(ORT_ARM64_BF16_FASTMATH, "0")  # fp32 means fp32 (module docstring)
        options.add_session_config_entry(ORT_DENORMALS_AS_ZERO, "1")
        options.enable_mem_pattern = not lean_memory
        self.lean_memory = lean_memory
        self._run_options = ort.RunOptions()
        if lean_memory:
            self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        disabled = ["ConstantFolding"] if lean_memory else []  # unknown names are ignored by onnxruntime
        self._thread = FlushingThread(f"sam-edge-{Path(path).stem}")
        create_on = self._thread.call if self._thread.available else _created_on_a_thread_of_its_own
        try:
            self.session = create_on(
                lambda: ort.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
                )
            )
        except Exception as error:  # onnxruntime raises its own untyped exceptions for bad files
            raise ModelFileError(f"{path}: onnxruntime cannot load it ({str(error).splitlines()[0][:200]})") from None
        self.path = path
        self.input_names = [i.name for i in self.session.get_inputs()]
        text = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        self.metadata = parse_metadata(text, path)

    def run(self, output_names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The outputs, run on the session's flushing thread (module comment above)."""
        return self._thread.call(self.session.run, output_names, feeds, self._run_options)

    def executed_precision(self) -> str:
        """What the kernels compute in: the graph's own types (the CPU provider casts nothing on its own
        once bf16 fast-math is off), so the metadata's precision; int8 graphs keep float ops in f32."""
        return {"fp32": "f32", "fp16": "f16 weights, f32 compute", "int8": "int8 + f32"}.get(
            self.metadata.precision, self.metadata.precision
        )


def import_onnxruntime():
    """The onnxruntime module, or a one-line error saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise SamEdgeError("onnxruntime is not installed; pip install onnxruntime") from None
    return onnxruntime


def parse_metadata(text: str | None, path: Path) -> GraphMetadata:
    if not text:
        raise ModelFileError(
            f"{path} has no sam_edge metadata; export it with `sam-edge export` so the runtime can configure itself"
        )
    return GraphMetadata.from_json(text, str(path))


def backend_for_path(path: Path) -> str:
    """The backend that runs a file, from its extension."""
    for name, extension in EXTENSIONS.items():
        if path.suffix == extension:
            return name
    raise InvalidInputError(
        f"{path}: unknown graph format {path.suffix!r}; expected .onnx (onnxruntime) or .xml (OpenVINO IR)"
    )


def open_backend(
    path: str | Path,
    backend: str | None = None,
    threads: int | None = None,
    spinning: bool = True,
    lean_memory: bool = False,
) -> Backend:
    """Load a graph with the named backend, or the one its extension implies (``spinning``,
    ``lean_memory``: see OnnxRuntimeBackend; OpenVINO needs no such settings). OpenVINO also reads
    ``.onnx`` files (converting them on load); onnxruntime runs only ``.onnx``."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"graph {path} does not exist")
    backend = backend or backend_for_path(path)
    if backend not in BACKENDS:
        raise InvalidInputError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if path.suffix not in (EXTENSIONS[backend], ".onnx"):
        raise InvalidInputError(f"{path.name} is not a {backend} graph; {backend} runs {EXTENSIONS[backend]} files")
    if backend == "onnxruntime":
        return OnnxRuntimeBackend(path, threads, spinning, lean_memory)
    from sam_edge.runtime.openvino_backend import OpenVinoBackend

    return OpenVinoBackend(path, threads)


def read_graph_metadata(path: str | Path) -> GraphMetadata:
    """A graph's metadata record without preparing it for inference (no optimisation, no compile)."""
    path = Path(path)
    if backend_for_path(path) == "openvino":
        from sam_edge.runtime.openvino_backend import read_openvino_metadata

        return read_openvino_metadata(path)
    ort = import_onnxruntime()

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own untyped exceptions for bad files
        raise ModelFileError(f"{path}: onnxruntime cannot load it ({str(error).splitlines()[0][:200]})") from None
    return parse_metadata(session.get_modelmeta().custom_metadata_map.get(METADATA_KEY), path)
