"""How the runtime sets up its engines: thread counts, and the onnxruntime session options each graph
gets for its role (per image or per prompt)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sam_edge.runtime.backends import physical_core_count
from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.predictor import SamPredictor


@pytest.fixture(scope="module")
def model_dir(exported_golden_model) -> Path:
    return exported_golden_model("vit_small")


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


def test_per_image_graphs_run_without_a_memory_pattern_and_prompt_graphs_with_one(model_dir):
    """The encoder and the image stage run once per image: no planned block on top of the arena
    (resident memory would grow after the first image); the per-prompt graph keeps its plan."""
    predictor = SamPredictor(model_dir, backend="onnxruntime", threads=2)
    options = {
        "encoder": predictor.encoder.session.get_session_options(),
        "image stage": predictor.decoder.image_stage.session.get_session_options(),
        "prompt stage": predictor.decoder.backend.session.get_session_options(),
    }
    assert {role: o.enable_mem_pattern for role, o in options.items()} == {
        "encoder": False, "image stage": False, "prompt stage": True}
    assert all(o.intra_op_num_threads == 2 for o in options.values())
