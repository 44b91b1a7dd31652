"""Subnormal floats flushed to zero on threads sam-edge owns, never on the caller's.

Trained SAM decoders produce subnormal float32 values (attention weights of far-off tokens, mostly),
and an x86 core takes a microcode assist for each product with one. Setting the CPU's flush-to-zero
and denormals-are-zero bits (x86 MXCSR FTZ + DAZ; arm64 FPCR.FZ) removes that cost and changes no
mask. The bits belong to a thread, and in a user's thread they would silently change what numpy and
torch compute, so they are set only on threads created here: an engine's calls are handed to a
``FlushingThread`` and the caller waits for the result (one hop, ~0.1 ms).

The bits are set through the C library's ``fegetenv``/``fesetenv`` (glibc's ``fenv_t`` layout, on
x86-64 and arm64 Linux); elsewhere nothing is flushed and engines run on the caller's thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

import numpy as np

Result = TypeVar("Result")

# glibc's fenv_t: on x86-64 the x87 environment (28 bytes) then MXCSR; on arm64 FPCR then FPSR.
_X86_MXCSR_WORD, _X86_FTZ_DAZ = 7, 0x8000 | 0x0040
_ARM64_FPCR_WORD, _ARM64_FZ = 0, 1 << 24
_FENV_WORDS = 8  # room for either layout, in 32-bit words
_LOCAL = threading.local()


def _fenv_bits() -> tuple[int, int] | None:
    """(word index, bits) to set in fenv_t on this platform, or None where it is not known."""
    if not sys.platform.startswith("linux"):
        return None
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return _X86_MXCSR_WORD, _X86_FTZ_DAZ
    if machine in ("aarch64", "arm64"):
        return _ARM64_FPCR_WORD, _ARM64_FZ
    return None


def _libm():
    name = ctypes.util.find_library("m")
    return None if name is None else ctypes.CDLL(name)


def subnormals_are_flushed() -> bool:
    """Whether this thread computes a float32 subnormal as zero (FTZ or DAZ is on)."""
    tiny = np.array([1e-39], dtype=np.float32)  # subnormal: below float32's smallest normal 1.18e-38
    return float(tiny[0] * np.float32(1.0)) == 0.0


def flush_subnormals_on_this_thread() -> bool:
    """Set flush-to-zero on the calling thread, for good; True when it took effect.

    Only for threads sam-edge created for its engines: see the module docstring.
    """
    bits, libm = _fenv_bits(), _libm()
    if bits is None or libm is None:
        return False
    word, mask = bits
    env = (ctypes.c_uint32 * _FENV_WORDS)()
    if libm.fegetenv(env) != 0:
        return False
    env[word] |= mask
    if libm.fesetenv(env) != 0:
        return False
    _LOCAL.flushing = subnormals_are_flushed()
    return _LOCAL.flushing


def flushing_here() -> bool:
    """Whether the calling thread is one whose subnormals sam-edge flushed (no hop needed)."""
    return getattr(_LOCAL, "flushing", False)


class FlushingThread:
    """One thread of sam-edge's own that flushes subnormals; ``call(fn, ...)`` runs ``fn`` there.

    Calls from a thread that already flushes (another FlushingThread, the server's engine threads)
    run in place. ``available`` is False where flushing is not supported: calls then run in place.
    """

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name, initializer=flush_subnormals_on_this_thread)
        self.available = self._executor.submit(flushing_here).result()
        if not self.available:
            self._executor.shutdown(wait=False)

    def call(self, function: Callable[..., Result], *args) -> Result:
        """``function(*args)`` on the flushing thread (its exception raised here)."""
        if not self.available or flushing_here():
            return function(*args)
        return self._executor.submit(function, *args).result()

    def close(self) -> None:
        self._executor.shutdown(wait=False)
