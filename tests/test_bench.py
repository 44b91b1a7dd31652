"""`sam-edge bench` proves its machinery on a tiny model in --quick mode (speed is judged in bench/, never here)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from sam_edge.bench.report import markdown_table
from sam_edge.bench.runner import BenchSettings, run_benchmarks
from sam_edge.bench.scenarios import REFERENCES, SCENARIOS
from sam_edge.cli import main
from sam_edge.runtime.default_model import bundled_model_dir
from sam_edge.runtime.model_dir import find_model_files

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def bench_model(tmp_path_factory):
    """A tiny model of the real classes (ViT encoder, SAM decoder at width 32), with the official decoder graph."""
    from sam_edge.export.api import export_model, load_model
    from sam_edge.export.specs import DecoderSpec, ModelSpec, ViTSpec

    spec = ModelSpec(
        "bench_tiny",
        ViTSpec(32, 1, 1, (0,)),
        DecoderSpec(
            transformer_dim=32,
            transformer_depth=1,
            transformer_heads=2,
            transformer_mlp_dim=64,
            iou_head_hidden_dim=32,
            mask_in_chans=4,
        ),
    )
    out_dir = tmp_path_factory.mktemp("bench_model")
    export_model(
        load_model(model_type=spec, random_seed=1), out_dir, "onnx", official_decoder=True, progress=lambda m: None
    )
    return out_dir


def by_name(record: dict) -> dict:
    return {entry["name"]: entry for entry in record["benchmarks"]}


@pytest.fixture(scope="module")
def quick_run(bench_model, tmp_path_factory):
    """One `sam-edge bench --quick` on the tiny model: (exit code, bench.json record, out dir, stdout)."""
    out = tmp_path_factory.mktemp("bench") / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(
            [
                "bench",
                "--model",
                str(bench_model),
                "--quick",
                "--target-ms",
                "1e6",
                "--encoder-budget-ms",
                "1e6",
                "--out",
                str(out),
            ]
        )
    return code, json.loads((out / "bench.json").read_text()), out, stdout.getvalue()


def timed_entries(quick_run) -> dict:
    return {name: entry for name, entry in by_name(quick_run[1]).items() if entry["stats"] is not None}


def test_quick_run_passes_and_names_every_scenario(quick_run):
    code, record, _, stdout = quick_run
    assert code == 0 and set(by_name(record)) == set(SCENARIOS)
    assert "predict_1_point p95" in stdout


def test_every_scenario_is_timed_unless_its_optional_reference_is_missing(quick_run):
    official_installed = importlib.util.find_spec("segment_anything") is not None
    for name, entry in by_name(quick_run[1]).items():
        if name.startswith("official_package:") and not official_installed:  # optional: reported, not failed
            assert (
                entry["stats"] is None and "segment-anything package is not installed" in entry["extra_info"]["skipped"]
            )
        else:
            assert entry["stats"] is not None, f"{name} skipped: {entry['extra_info']['skipped']}"


def test_stats_are_consistent_with_their_samples(quick_run):
    for name, entry in timed_entries(quick_run).items():
        stats = entry["stats"]
        assert stats["rounds"] == len(stats["data"]) >= 1, name
        assert 0 < stats["min"] <= stats["median"] <= stats["p95"] <= stats["max"], name
        assert stats["spread"] == pytest.approx(stats["p95"] / stats["median"]), name
    assert timed_entries(quick_run)["interactive_session"]["stats"]["rounds"] >= 5


def test_ratios_are_the_reference_median_over_ours(quick_run):
    entries = timed_entries(quick_run)
    compared = 0
    for name, (scenario, _) in SCENARIOS.items():
        if scenario.reference is not None and name in entries:
            ours, reference = entries[scenario.compares_with], entries[name]
            expected = reference["stats"]["median"] / ours["stats"]["median"]
            assert ours["extra_info"]["ratios"][scenario.reference] == pytest.approx(expected), name
            compared += 1
    assert compared >= 10  # PyTorch and the official ONNX decoder ran for every decoder scenario


def test_targets_memory_and_machine_are_recorded(quick_run):
    record = quick_run[1]
    model = record["sam_edge"]["models"][0]
    assert model["passed"] and {t["name"].split()[0] for t in model["targets"]} == {"predict_1_point", "encoder"}
    assert model["memory"]["peak_rss_mb"] > model["memory"]["after_imports_mb"] > 0
    machine = record["machine_info"]
    assert machine["threads"] >= 1 and machine["cpu"]["model"] and "avx2" in machine["cpu"]["isa"]
    assert machine["libraries"]["numpy"] == np.__version__


def test_markdown_names_each_timed_scenario_and_each_skip_once(quick_run):
    _, record, out, _ = quick_run
    markdown = (out / "bench.md").read_text()
    assert all(f"| {name} |" in markdown for name in timed_entries(quick_run))
    skipped = {entry["extra_info"]["skipped"] for entry in by_name(record).values() if entry["stats"] is None}
    assert all(markdown.count(reason) == 1 for reason in skipped)  # once per reference, not once per scenario
    assert "vs PyTorch eager" in markdown and "x |" in markdown


def test_batched_calls_are_weighed_against_as_many_single_calls_of_the_same_run(quick_run):
    _, record, out, _ = quick_run
    entries = timed_entries(quick_run)
    figures = {f["scenario"]: f for f in record["sam_edge"]["models"][0]["batching"]}
    assert set(figures) == {"predict_16_boxes", "predict_64_points"}
    for name, single, prompts in (
        ("predict_16_boxes", "predict_1_box", 16),
        ("predict_64_points", "predict_1_point", 64),
    ):
        batched_s, single_s = entries[name]["stats"]["median"], entries[single]["stats"]["median"]
        assert figures[name]["single"] == single and figures[name]["prompts"] == prompts
        assert figures[name]["batched_vs_single_calls"] == pytest.approx(batched_s / (prompts * single_s))
    line = next(line for line in (out / "bench.md").read_text().splitlines() if line.startswith("- predict_64_points:"))
    assert f"x 64 calls of predict_1_point ({figures['predict_64_points']['single_ms']:.2f} ms each)" in line


def test_png_plots_every_scenario(quick_run):
    with Image.open(quick_run[2] / "bench.png") as image:
        assert image.size[0] > 500 and image.size[1] > 22 * len(SCENARIOS)


def test_missed_targets_fail_the_run(bench_model, tmp_path, capsys):
    code = main(
        [
            "bench",
            "--model",
            str(bench_model),
            "--quick",
            "--scenarios",
            "predict_1_point,encoder",
            "--target-ms",
            "0.01",
            "--encoder-budget-ms",
            "0.01",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 1
    assert "target missed" in capsys.readouterr().err
    targets = json.loads((tmp_path / "bench.json").read_text())["sam_edge"]["models"][0]["targets"]
    assert [t["met"] for t in targets] == [False, False] and all(t["limit_ms"] == 0.01 for t in targets)


def test_missing_references_are_skipped_not_failed(bench_model, tmp_path, monkeypatch):
    model_dir = tmp_path / "model"
    shutil.copytree(bench_model, model_dir, ignore=shutil.ignore_patterns("*.decoder_official.*"))
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    names = ("predict_1_point",) + tuple(f"{reference}:predict_1_point" for reference in REFERENCES)
    report = run_benchmarks(
        model_dir,
        BenchSettings(quick=True, target_ms=1e6, scenarios=names, measure_rss=False),
        progress=lambda message: None,
    )
    skipped = {result.name: result.skipped for result in report.results}
    assert "torch is not installed" in skipped["torch:predict_1_point"]
    assert "decoder_official" in skipped["official_onnx:predict_1_point"]
    assert report.passed and report.results[0].ratios == {}


def test_bundled_model_runs_each_part_on_the_engine_segment_uses_and_names_a_skip_once():
    model_dir = bundled_model_dir()
    files = find_model_files(model_dir)  # what segment opens: <model>.backends.json's choice per part
    names = ("encoder", "predict_1_point", "torch:encoder", "torch:predict_1_point", "torch:predict_1_box")
    messages = []
    report = run_benchmarks(
        model_dir,
        BenchSettings(quick=True, target_ms=1e6, encoder_budget_ms=1e6, scenarios=names, measure_rss=False),
        progress=messages.append,
    )
    assert (report.model["encoder_backend"], report.model["backend"]) == (files.encoder_backend, files.decoder_backend)
    assert report.model["encoder_file"] == str(files.encoder)
    engines = (
        files.decoder_backend
        if files.encoder_backend == files.decoder_backend
        else f"encoder on {files.encoder_backend}, decoder on {files.decoder_backend}"
    )
    assert messages[0].startswith(f"benchmarking {report.model['model_id']} ({engines}, ")
    table = markdown_table(report)
    reason = f"no PyTorch weights for {report.model['model_id']}: pass --checkpoint FILE"
    assert table.count(reason) == 1 and f"- PyTorch eager (torch, 3 scenarios): {reason}" in table
    assert "| torch:" not in table


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--random", "vit_x"], "unknown model name(s) 'vit_x'; accepted: vit_b"),
        (["--scenarios", "predict_1_point,warp"], "unknown scenario(s) 'warp'; accepted: encoder"),
        (["--target-ms", "0"], "--target-ms must be a positive number"),
        (["--target-ms", "-5"], "--target-ms must be a positive number"),
        (["--target-ms", "fast"], "--target-ms must be a positive number"),
        (["--encoder-budget-ms", "vit_q=900"], "unknown model name(s) 'vit_q'"),
        (["--encoder-budget-ms", "nan"], "--encoder-budget-ms must be a positive number"),
    ],
)
def test_bad_options_are_one_line_errors(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", *arguments])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_unwritable_out_dir_and_missing_model_are_one_line_errors(bench_model, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["bench", "--model", str(bench_model), "--quick", "--out", str(blocker / "sub")]) == 2
    assert main(["bench", "--model", str(tmp_path / "missing"), "--quick"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and "cannot create output directory" in errors[0] and "does not exist" in errors[1]


def test_profile_sums_kernel_time_per_operator(bench_model, tmp_path, capsys):
    from sam_edge.bench.op_profile import profile_model_dir

    encoder, prompt_stage = profile_model_dir(bench_model, threads=1, runs=2)
    assert encoder.graph.endswith(".encoder.fp32.onnx") and prompt_stage.graph.endswith(".decoder_prompt.fp32.onnx")
    for profile in (encoder, prompt_stage):
        ops = {op.op_type: op for op in profile.ops}
        assert "MatMul" in ops or "FusedMatMul" in ops or "Gemm" in ops
        assert sum(op.share for op in profile.ops) == pytest.approx(1.0)
        assert all(op.ms_per_run > 0 and op.nodes >= 1 for op in profile.ops)
        assert [op.ms_per_run for op in profile.ops] == sorted((op.ms_per_run for op in profile.ops), reverse=True)
    assert "Softmax" in {op.op_type for op in prompt_stage.ops}  # attention runs per prompt

    code = main(
        [
            "bench",
            "--model",
            str(bench_model),
            "--quick",
            "--scenarios",
            "predict_1_point",
            "--target-ms",
            "1e6",
            "--threads",
            "1",
            "--profile",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    text = (tmp_path / "profile.md").read_text()
    assert "decoder_prompt.fp32.onnx" in text and "| op type | ms / run | share | nodes |" in text
    assert "--profile" in text.splitlines()[2]


def test_a_sam2_model_runs_against_its_pytorch_reference_and_says_why_sams_references_do_not_apply(tmp_path):
    from sam2_golden_data import export_random_sam2

    from sam_edge.bench.references import SAM2_NO_OFFICIAL_ONNX

    export_random_sam2(tmp_path / "model")
    names = (
        ("encoder", "torch:encoder")
        + ("predict_1_point",)
        + tuple(f"{reference}:predict_1_point" for reference in REFERENCES)
        + ("official_logic:everything",)
    )
    report = run_benchmarks(
        tmp_path / "model",
        BenchSettings(quick=True, target_ms=1e6, encoder_budget_ms=1e6, scenarios=names, measure_rss=False),
        progress=lambda message: None,
    )
    results = {result.name: result for result in report.results}
    assert set(results["encoder"].ratios) >= {"torch"} and "torch" in results["predict_1_point"].ratios
    assert results["official_onnx:predict_1_point"].skipped == SAM2_NO_OFFICIAL_ONNX
    if importlib.util.find_spec("sam2") is None:  # the official package, optional (it needs torchvision)
        assert results["official_package:predict_1_point"].skipped.startswith("the official sam2 package is not")
    else:
        assert set(results["predict_1_point"].ratios) == {"torch", "official_package"}
    expected = "segment_anything's generator is not SAM 2's (SAM2AutomaticMaskGenerator differs)"
    assert results["official_logic:everything"].skipped == expected
    assert report.roofline["scenarios"]["predict_1_point"]["floor_ms"] > 0  # SAM 2's decoder graph is counted
