"""What this CPU is: its model name and the instruction-set flags that decide GEMM speed and precision.

Read from /proc/cpuinfo (Linux, x86 ``flags`` and ARM ``Features``); elsewhere the flags are empty and
the model name comes from ``platform``. One reader for everything that reports or decides by the CPU:
the engine record (backends.json), the quantize recipes, ``sam-edge info`` and the bench.
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# The flags that matter here: fp32 vector width (AVX2 / AVX-512), int8 dot products (VNNI, AMX) and
# native bf16 (AVX512_BF16, AMX), and ARM's SIMD.
ISA_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "neon",
    "asimd",
    "bf16",
    "i8mm",
)


def _cpuinfo_text(cpuinfo: str | None) -> str:
    if cpuinfo is not None:
        return cpuinfo
    try:
        return CPUINFO.read_text(errors="replace")
    except OSError:
        return ""


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The feature flags of the first CPU in /proc/cpuinfo (or the text ``cpuinfo``); empty where there is none."""
    for line in _cpuinfo_text(cpuinfo).splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name, e.g. "AMD EPYC 9R14" (``platform`` where /proc/cpuinfo has none)."""
    for line in _cpuinfo_text(cpuinfo).splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("model name", "hardware", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine()


def isa_summary(flags: set[str] | None = None) -> str:
    """The ISA_FLAGS this CPU has, space-separated in ISA_FLAGS order (e.g. "avx2 fma avx512f ...")."""
    flags = cpu_flags() if flags is None else flags
    present = [flag for flag in ISA_FLAGS if flag in flags]
    return " ".join(present) if present else "(no flags readable)"
