"""How the runtime sets up its engines: thread counts, and the onnxruntime session options each graph
gets for its role (on conftest's vit_small model)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sam_edge.runtime.backends import physical_core_count
from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.predictor import SamPredictor


@pytest.mark.parametrize("threads", [0, -1, "2", 1.5])
def test_bad_thread_counts(model_dir, threads):
    with pytest.raises(InvalidInputError, match="positive integer"):
        SamPredictor(model_dir, threads=threads)


def test_bad_thread_environment(model_dir, monkeypatch):
    monkeypatch.setenv("SAM_EDGE_THREADS", "many")
    with pytest.raises(InvalidInputError, match="SAM_EDGE_THREADS"):
        SamPredictor(model_dir)


def test_physical_core_count():
    cores = physical_core_count()
    assert isinstance(cores, int) and 1 <= cores <= len(os.sched_getaffinity(0))


def test_each_graph_gets_the_session_settings_of_its_role(model_dir):
    """The encoder: no spinning pool, lean memory (no memory pattern, no constant folding); the image
    stage: no spinning pool; the per-prompt graph: onnxruntime's defaults (see OnnxRuntimeBackend)."""
    predictor = SamPredictor(model_dir, backend="onnxruntime", threads=2)
    backends = {
        "encoder": predictor.encoder,
        "image stage": predictor.decoder.image_stage,
        "prompt stage": predictor.decoder.per_prompt,
    }
    options = {role: backend.session.get_session_options() for role, backend in backends.items()}
    assert {role: backend.lean_memory for role, backend in backends.items()} == {
        "encoder": True,
        "image stage": False,
        "prompt stage": False,
    }
    assert {role: o.enable_mem_pattern for role, o in options.items()} == {
        "encoder": False,
        "image stage": True,
        "prompt stage": True,
    }
    spinning = {role: _config_entry(o, "session.intra_op.allow_spinning") for role, o in options.items()}
    assert spinning == {"encoder": "0", "image stage": "0", "prompt stage": None}
    assert all(o.intra_op_num_threads == 2 for o in options.values())


def _config_entry(options, key: str) -> str | None:
    try:
        return options.get_session_config_entry(key)
    except Exception:  # noqa: BLE001 - onnxruntime raises its own untyped error for an unset key
        return None


def test_lean_memory_keeps_the_outputs(model_dir):
    """Without constant folding the graph computes the same embedding (kernels may differ by rounding)."""
    from sam_edge.runtime.backends import OnnxRuntimeBackend

    path = next(model_dir.glob("*.encoder.fp32.onnx"))
    default, lean = (OnnxRuntimeBackend(path, 2, lean_memory=flag) for flag in (False, True))
    side = default.metadata.image_size
    image = np.random.default_rng(0).normal(size=(1, 3, side, side)).astype(np.float32)
    (expected,), (got,) = (b.run(["image_embeddings"], {"image": image}) for b in (default, lean))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_onnxruntime_leaves_the_callers_subnormal_numbers_alone():
    # onnxruntime's flush-to-zero entry also sets the flag on the thread that creates a session; the
    # runtime creates sessions on a thread of their own, so numpy and torch in the caller's thread
    # keep IEEE subnormals after a model is opened and run.
    from sam_edge.runtime.predictor import SamPredictor

    tiny = np.float32(1e-40)
    assert tiny * np.float32(1.0) == tiny
    predictor = SamPredictor(None, backend="onnxruntime", threads=1)
    predictor.set_image(np.full((32, 48, 3), 128, np.uint8))
    predictor.predict([[10, 10]], [1])
    assert tiny * np.float32(1.0) == tiny and np.float32(1e-38) / np.float32(4.0) > 0
