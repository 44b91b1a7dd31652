"""Subnormals are flushed on sam-edge's own engine threads and never on the caller's (runtime/subnormals.py)."""

from __future__ import annotations

import platform
import sys
import threading

import numpy as np
import pytest

from sam_edge.runtime.subnormals import FlushingThread, flush_subnormals_on_this_thread, subnormals_are_flushed

SUPPORTED = sys.platform.startswith("linux") and platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64")


def _on_a_new_thread(function):
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(function()))
    thread.start()
    thread.join()
    return outcome[0]


@pytest.mark.skipif(not SUPPORTED, reason="flushing is implemented for x86-64 and arm64 Linux")
def test_a_flushed_thread_computes_subnormals_as_zero_and_others_do_not():
    def flushed_then_measured():
        return flush_subnormals_on_this_thread(), subnormals_are_flushed(), float(np.float32(1e-39) * np.float32(1))

    assert _on_a_new_thread(flushed_then_measured) == (True, True, 0.0)
    assert not subnormals_are_flushed()
    assert np.float32(1e-39) * np.float32(1.0) == np.float32(1e-39)


@pytest.mark.skipif(not SUPPORTED, reason="flushing is implemented for x86-64 and arm64 Linux")
def test_a_flushing_thread_runs_calls_flushed_and_leaves_the_callers_thread_alone():
    thread = FlushingThread("sam-edge-test")
    try:
        assert thread.available
        assert thread.call(subnormals_are_flushed) is True
        assert thread.call(threading.current_thread) is not threading.current_thread()
        with pytest.raises(ZeroDivisionError):
            thread.call(lambda: 1 / 0)
    finally:
        thread.close()
    assert not subnormals_are_flushed()


@pytest.mark.skipif(not SUPPORTED, reason="flushing is implemented for x86-64 and arm64 Linux")
def test_calls_from_a_thread_that_already_flushes_run_in_place():
    thread = FlushingThread("sam-edge-test")

    def from_a_flushed_thread():
        flush_subnormals_on_this_thread()
        return thread.call(threading.current_thread) is threading.current_thread()

    try:
        assert _on_a_new_thread(from_a_flushed_thread)
    finally:
        thread.close()


def test_onnxruntime_runs_on_a_flushing_thread_where_flushing_is_supported():
    from sam_edge.runtime.predictor import SamPredictor

    predictor = SamPredictor(None, backend="onnxruntime", threads=1)
    backend = predictor.decoder.per_prompt
    assert backend._thread.available == SUPPORTED
    assert backend._thread.call(subnormals_are_flushed) == SUPPORTED
