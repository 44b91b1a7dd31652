"""The machine a benchmark ran on (CPU model, ISA flags, threads, library versions), and the peak
resident memory of a runtime process, measured in a child process so the parent's own imports
(torch, the references) do not count.

Run as a module, this file IS that child: ``python -m sam_edge.bench.machine MODEL_DIR [--backend B]
[--threads N]`` loads a SamPredictor, runs set_image + predict once and prints its peak RSS as JSON.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

from sam_edge.runtime.cpu import ISA_FLAGS, cpu_flags, cpu_model

LIBRARIES = ("numpy", "onnxruntime", "openvino", "torch", "pillow", "sam-edge")


def cpu_info() -> dict:
    """CPU model name and the ISA flags that matter for GEMM speed and precision (runtime/cpu.py)."""
    flags = cpu_flags()
    return {"model": cpu_model(), "isa": {flag: flag in flags for flag in ISA_FLAGS}}


def library_versions() -> dict:
    """Installed versions (None when a library is absent), read without importing the libraries."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_info(threads: int) -> dict:
    """pytest-benchmark-style machine_info plus the pinned thread count and core counts."""
    from sam_edge.runtime.backends import physical_core_count

    return {
        "node": platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_implementation": platform.python_implementation(),
        "python_version": platform.python_version(),
        "system": platform.system(),
        "release": platform.release(),
        "cpu": {**cpu_info(), "logical_cpus": os.cpu_count(), "physical_cores": physical_core_count()},
        "threads": threads,
        "libraries": library_versions(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def peak_rss_child(model_dir: Path, backend: str | None, threads: int, timeout_s: float = 600.0) -> dict:
    """Run this module in a child process; returns its JSON ({"peak_rss_mb": ...}) or {"error": ...}."""
    command = [sys.executable, "-m", "sam_edge.bench.machine", str(model_dir), "--threads", str(threads)]
    if backend:
        command += ["--backend", backend]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"the child process ran past {timeout_s:.0f} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1][:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
    """Peak resident set of this process in MiB.

    Linux: VmHWM of /proc/self/status (ru_maxrss would be wrong: Linux carries the parent's peak
    across fork + exec). Elsewhere ru_maxrss (KiB, bytes on macOS).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _probe(argv: list[str] | None = None) -> None:
    """The child: load, set_image + predict one point on two images, report peak RSS (after imports and after all)."""
    from sam_edge.bench.scenarios import PROMPT_CASES, BenchContext, make_image
    from sam_edge.runtime.predictor import SamPredictor

    parser = argparse.ArgumentParser(prog="python -m sam_edge.bench.machine")
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--backend")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    after_imports = _peak_rss_mb()
    # Two images (an engine may allocate more on its second run than on its first), made before the
    # model loads: their float64 synthesis (~100 MB, freed at once) is the probe's, not the runtime's.
    images = [make_image(seed=seed) for seed in (0, 1)]
    predictor = SamPredictor(args.model_dir, backend=args.backend, threads=args.threads, cache_size=0)
    for image in images:
        predictor.set_image(image)
        predictor.predict(**PROMPT_CASES[0].kwargs(BenchContext(predictor, image)))
    print(
        json.dumps(
            {
                "peak_rss_mb": round(_peak_rss_mb(), 1),
                "after_imports_mb": round(after_imports, 1),
                "what": "child process: load model, then set_image + predict 1 point on two images",
            }
        )
    )


if __name__ == "__main__":
    _probe()
