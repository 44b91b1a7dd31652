"""release_free_heap: freed heap memory goes back to the OS (glibc), and it is a no-op elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sam_edge.runtime.heap import release_free_heap


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.environment  # how much glibc gives back depends on its version and tunables, not on sam-edge
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmRSS and glibc are Linux's")
def test_freed_small_blocks_leave_the_resident_set():
    if not release_free_heap():
        pytest.skip("this C library has no malloc_trim (not glibc)")
    blocks = [np.ones(16_000, np.float32) for _ in range(2000)]  # 64 KB each: heap, not mmap
    survivors = blocks[::50]  # scattered survivors keep the heap from shrinking on its own
    del blocks
    before = resident_mb()
    assert release_free_heap()
    after = resident_mb()
    assert before - after > 60, f"resident {before:.0f} -> {after:.0f} MB after freeing ~125 MB"
    assert all(block[0] == 1 for block in survivors)  # what is still referenced is untouched


def test_trim_is_called_where_glibc_has_it(monkeypatch):
    import sam_edge.runtime.heap as heap

    calls = []
    monkeypatch.setattr(heap, "_malloc_trim", lambda: calls.append)  # trim(pad) -> calls.append(pad)
    assert heap.release_free_heap() is True and calls == [0]  # malloc_trim(0): keep no free pad


def test_no_op_without_glibc(monkeypatch):
    import sam_edge.runtime.heap as heap

    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    assert heap.release_free_heap() is False
