"""``sam-edge backends``: measure both engines on this machine and record the faster one per part."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_runner import run_cli

from sam_edge.runtime.cpu import cpu_model, isa_summary
from sam_edge.runtime.model_dir import find_model_files


@pytest.fixture()
def model_copy(exported_golden_model, tmp_path):
    """A writable copy of the vit_small model (ONNX + OpenVINO IR, no backends record yet)."""
    return shutil.copytree(exported_golden_model("vit_small"), tmp_path / "model")


def test_measures_both_engines_and_the_runtime_follows_the_record(model_copy):
    status, out, err = run_cli("backends", model_copy, "--rounds", "1", "--threads", "1")
    assert status == 0, err
    (record,) = json.loads((model_copy / "vit_small.backends.json").read_text())["measurements"]
    assert set(record["encoder_ms"]) == set(record["decoder_ms"]) == {"onnxruntime", "openvino"}
    assert all(ms > 0 for times in (record["encoder_ms"], record["decoder_ms"]) for ms in times.values())
    faster_encoder = min(record["encoder_ms"], key=record["encoder_ms"].get)
    faster_decoder = min(record["decoder_ms"], key=record["decoder_ms"].get)
    assert record["preferred"] == {"encoder": faster_encoder, "decoder": faster_decoder}
    assert record["threads"] == 1 and record["precision"] == "fp32"
    assert (record["machine"], record["isa"]) == (cpu_model(), isa_summary())
    assert f"-> {faster_encoder}" in out and "wrote" in out
    files = find_model_files(model_copy)
    assert (files.encoder_backend, files.decoder_backend) == (faster_encoder, faster_decoder)


def test_dry_run_writes_nothing(model_copy):
    status, out, err = run_cli("backends", model_copy, "--rounds", "1", "--dry-run")
    assert status == 0, err
    assert "nothing written" in out
    assert not list(model_copy.glob("*.backends.json"))


def test_one_engine_only_is_refused_before_timing(model_copy):
    for graph in [*model_copy.glob("*.xml"), *model_copy.glob("*.bin")]:
        graph.unlink()
    status, out, err = run_cli("backends", model_copy)
    assert status == 2
    assert "fp32 encoder graphs for onnxruntime only; nothing to choose" in err and "timing" not in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--rounds", "0"], "argument --rounds: expected an integer >= 1; got '0'"),
        (["--threads", "x"], "argument --threads: expected an integer >= 1; got 'x'"),
    ],
)
def test_bad_arguments(model_copy, argv, words):
    status, _, err = run_cli("backends", model_copy, *argv)
    assert status == 2 and words in err


def test_missing_directory(tmp_path):
    status, _, err = run_cli("backends", tmp_path / "nowhere")
    assert status == 2 and "does not exist" in err


def test_unwritable_directory_is_refused_before_timing(model_copy, monkeypatch):
    import os

    monkeypatch.setattr(os, "access", lambda path, mode: mode != os.W_OK)  # tests may run as root
    status, out, err = run_cli("backends", model_copy)
    assert status == 2 and "not writable" in err and "--dry-run" in err and "timing" not in out
