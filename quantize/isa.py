"""Which instruction set the int8 kernels of this CPU get: it decides which recipes can pay off."""

from __future__ import annotations

import platform

from sam_edge.runtime.cpu import cpu_flags

__all__ = ["cpu_flags", "detect_isa"]


def detect_isa(machine: str | None = None, flags: set[str] | None = None) -> str:
    """ "arm64", "amx" (AMX int8 tiles), "avx512_vnni" (AVX-512 or AVX VNNI dot products), else "avx2".

    VNNI matters most: without it int8 dot products go through 16-bit multiplies and gain little.
    """
    machine = (machine or platform.machine()).lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    flags = cpu_flags() if flags is None else flags
    if "amx_int8" in flags:
        return "amx"
    if flags & {"avx512_vnni", "avx_vnni"}:
        return "avx512_vnni"
    return "avx2"
