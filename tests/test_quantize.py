"""sam-edge quantize on a small random-weight model: recipes, gate, reports, runtime loading, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from cli_runner import run_cli

from sam_edge.quantize.artifacts import node_summary
from sam_edge.quantize.calibration import folder_images, generated_calibration
from sam_edge.quantize.gate import GateResult, mask_ious, prompt_set
from sam_edge.quantize.isa import cpu_flags, detect_isa
from sam_edge.quantize.pipeline import QuantizeOptions, quantize_model
from sam_edge.quantize.recipes import AUTO_CANDIDATES, PRESETS, GateThresholds, auto_candidates, recipe_named
from sam_edge.runtime.backends import read_graph_metadata
from sam_edge.runtime.errors import InputFileError, InvalidInputError, ModelFileError, OutputPathError, SamEdgeError
from sam_edge.runtime.predictor import SamPredictor

FAST = dict(gate_images=2, miou_images=0, rounds=1, calib_images=2, threads=2)


@pytest.fixture(scope="module")
def model_dir(exported_golden_model):
    return exported_golden_model("vit_small")


@pytest.fixture(scope="module")
def dynamic_int8(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "int8"
    return out, quantize_model(
        model_dir, out, QuantizeOptions(recipe="ort_dynamic_quint8", **FAST), progress=lambda _: None
    )


def test_every_auto_candidate_is_a_preset_and_unknown_names_list_the_accepted_ones():
    assert all(name in PRESETS for names in AUTO_CANDIDATES.values() for name in names)
    with pytest.raises(InvalidInputError, match="unknown recipe 'int4'; accepted: auto, ort_dynamic_quint8"):
        recipe_named("int4")


@pytest.mark.parametrize(
    "machine, flags, isa",
    [
        ("x86_64", {"avx2", "fma"}, "avx2"),
        ("x86_64", {"avx2", "avx512f", "avx512_vnni"}, "avx512_vnni"),
        ("x86_64", {"avx2", "avx_vnni"}, "avx512_vnni"),
        ("x86_64", {"avx512_vnni", "amx_tile", "amx_int8"}, "amx"),
        ("aarch64", set(), "arm64"),
    ],
)
def test_isa_is_read_from_the_cpu_flags(machine, flags, isa):
    assert detect_isa(machine, flags) == isa


def test_cpu_flags_parse_the_first_cpu():
    assert cpu_flags("processor : 0\nflags : fpu avx2 fma\n\nprocessor : 1\nflags : other\n") == {"fpu", "avx2", "fma"}


def test_prompt_set_stays_inside_the_image_and_is_fixed():
    points, boxes = prompt_set(300, 500)
    assert points.shape == (9, 2) and boxes.shape == (3, 4)
    assert (points >= 0).all() and (points[:, 0] <= 499).all() and (points[:, 1] <= 299).all()
    assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
    np.testing.assert_array_equal(points, prompt_set(300, 500)[0])


def test_mask_iou_counts_two_empty_masks_as_agreeing():
    first = np.zeros((2, 4, 4), bool)
    second = first.copy()
    first[0, :2] = True
    second[0, :1] = True
    np.testing.assert_allclose(mask_ious(first, second), [0.5, 1.0])


def test_gate_names_each_missed_threshold():
    result = GateResult((0.9995, 0.998), (1.0,) * 19 + (0.5,), GateThresholds(), miou_fp32=0.40, miou_candidate=0.38)
    failures = result.failures()
    assert failures[0].startswith("embedding cosine 0.99800 < 0.999")
    assert any("mIoU dropped 0.0200" in line for line in failures) and not result.passed
    assert GateResult((1.0,), (1.0,), GateThresholds()).passed


def test_calibration_folder_without_readable_images_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG nope")
    with pytest.raises(InputFileError, match="has no readable images"):
        folder_images(tmp_path)


def test_generated_calibration_avoids_benchmark_and_training_seeds():
    source = generated_calibration(2)
    assert len(source) == 2 and "seeds 6000000..6000001" in source.description
    assert all(image.dtype == np.uint8 and image.ndim == 3 for image in source.images())


def test_dynamic_int8_is_written_gated_and_loaded_transparently(model_dir, dynamic_int8):
    out, outcome = dynamic_int8
    assert outcome.written and outcome.kept.recipe.name == "ort_dynamic_quint8"
    encoder = out / "vit_small.encoder.int8.onnx"
    meta = read_graph_metadata(encoder)
    assert (meta.precision, meta.recipe) == ("int8", "ort_dynamic_quint8")
    assert meta.extra["quantization"]["gate_passed"] == outcome.kept.gate.passed
    summary = node_summary(encoder)
    assert (
        summary["quantized"]
        and summary["float"].get("MatMul", 0)
        < node_summary(model_dir / "vit_small.encoder.fp32.onnx")["float"]["MatMul"]
    )
    predictor = SamPredictor(out, threads=2)  # no precision given: the one the directory holds
    assert predictor.encoder.metadata.precision == "int8" and predictor.decoder.metadata.precision == "fp32"
    report = json.loads((out / "quantization.json").read_text())
    assert report["kept"] == "ort_dynamic_quint8" and report["candidates"][0]["gate"]["prompts"] == 2 * 30
    assert "| ort_dynamic_quint8 | onnxruntime |" in (out / "quantization.md").read_text()


def test_quantized_masks_match_fp32_masks(model_dir, dynamic_int8):
    gate = dynamic_int8[1].kept.gate
    assert gate.min_cosine > 0.99 and gate.median_iou > 0.9  # tiny random model; real thresholds in the gate


def test_a_failed_gate_writes_nothing_unless_forced(model_dir, tmp_path):
    impossible = GateThresholds(min_cosine=1.5)
    options = QuantizeOptions(recipe="ov_weights_int8", thresholds=impossible, **FAST)
    outcome = quantize_model(model_dir, tmp_path / "refused", options, progress=lambda _: None)
    assert not outcome.written and not (tmp_path / "refused").exists()
    assert not list(tmp_path.iterdir())  # staging removed too
    forced = quantize_model(
        model_dir, tmp_path / "forced", QuantizeOptions(**{**options.__dict__, "force": True}), progress=lambda _: None
    )
    meta = read_graph_metadata(tmp_path / "forced" / "vit_small.encoder.int8.xml")
    assert forced.forced and meta.extra["quantization"]["forced"] and not meta.extra["quantization"]["gate_passed"]
    assert (
        node_summary(tmp_path / "forced" / "vit_small.encoder.int8.xml")["quantized"].get("MatMul", 0) > 0
    )  # int8 weights
    assert SamPredictor(tmp_path / "forced", threads=2).encoder.name == "openvino"


def test_auto_keeps_only_a_faster_passing_recipe_or_fp32(model_dir, tmp_path):
    outcome = quantize_model(
        model_dir, tmp_path / "auto", QuantizeOptions(recipe="auto", **FAST), progress=lambda _: None
    )
    tried = [c.recipe.name for c in outcome.candidates]
    assert tried == [recipe.name for recipe in auto_candidates(outcome.isa, cpu_flags())]
    kept = outcome.kept
    if kept is None:
        assert (tmp_path / "auto" / "vit_small.encoder.fp32.onnx").exists()
    else:
        assert kept.passed and kept.latency.speedup >= 1.05
        assert kept.latency.speedup == max(c.latency.speedup for c in outcome.candidates if c.passed)


def test_bad_inputs_fail_before_any_work(model_dir, tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        quantize_model(tmp_path / "missing", tmp_path / "out", QuantizeOptions(**FAST))
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(model_dir / "vit_small.encoder.fp32.onnx", bare)
    import onnx

    model = onnx.load(str(bare / "vit_small.encoder.fp32.onnx"))
    del model.metadata_props[:]
    onnx.save(model, str(bare / "vit_small.encoder.fp32.onnx"))
    with pytest.raises(ModelFileError, match="has no sam_edge metadata"):
        quantize_model(bare, tmp_path / "out", QuantizeOptions(**FAST))
    full = tmp_path / "full"
    full.mkdir()
    (full / "x.encoder.int8.onnx").write_bytes(b"")
    with pytest.raises(OutputPathError, match="already holds graphs"):
        quantize_model(model_dir, full, QuantizeOptions(recipe="ort_dynamic_quint8", **FAST))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputFileError, match="no readable images"):
        quantize_model(
            model_dir, tmp_path / "out", QuantizeOptions(recipe="ort_static_minmax", calib_dir=empty, **FAST)
        )
    assert not (tmp_path / "out").exists()


def test_cli_reports_bad_recipe_in_one_line(model_dir, tmp_path):
    status, stdout, stderr = run_cli("quantize", model_dir, "--recipe", "int3", "--out", tmp_path / "o")
    assert status == 2 and stderr.count("\n") == 1 and "unknown recipe 'int3'" in stderr
    status, stdout, _ = run_cli("quantize", "--list")
    assert status == 0 and "ort_dynamic_quint8" in stdout and "auto on this CPU" in stdout


def test_a_recipe_whose_toolchain_is_missing_is_refused_and_auto_skips_it(model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "nncf", None)  # import nncf now raises ImportError
    with pytest.raises(
        SamEdgeError, match=r"recipe nncf_int8 needs nncf, which is not installed; pip install 'sam-edge\[quantize\]'"
    ):
        quantize_model(model_dir, tmp_path / "out", QuantizeOptions(recipe="nncf_int8", **FAST))
    assert not (tmp_path / "out").exists()
    outcome = quantize_model(
        model_dir,
        tmp_path / "auto",
        QuantizeOptions(recipe="ort_dynamic_quint8,ov_weights_int8", **FAST),
        progress=lambda _: None,
    )
    assert [c.recipe.name for c in outcome.candidates] == ["ort_dynamic_quint8"]
    assert outcome.skipped[0].startswith("ov_weights_int8: recipe ov_weights_int8 needs nncf")


def test_calibration_and_gate_folders_are_used_and_named_in_the_report(model_dir, tmp_path):
    from PIL import Image

    calib, gate = tmp_path / "calib", tmp_path / "gate"
    for folder, seed in ((calib, 1), (gate, 2)):
        folder.mkdir()
        rng = np.random.default_rng(seed)
        for index in range(2):
            Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    (calib / "readme.txt").write_text("skipped: not an image")
    options = QuantizeOptions(recipe="ort_static_minmax", calib_dir=calib, gate_dir=gate, force=True, **FAST)
    outcome = quantize_model(model_dir, tmp_path / "out", options, progress=lambda _: None)
    assert outcome.sources["calibration"] == f"2 images from {calib}"
    assert outcome.sources["gate"] == f"2 images from {gate}" and len(outcome.kept.gate.cosines) == 2
    summary = node_summary(tmp_path / "out" / "vit_small.encoder.int8.onnx")
    assert summary["quantized"]["QuantizeLinear"] > 0 and summary["quantized"]["MatMul (QDQ)"] > 0


@pytest.fixture(scope="module")
def sam2_model_dir(tmp_path_factory):
    """A small SAM 2 config of the real classes with seeded random weights, encoder + decoder in ONNX."""
    from sam2_golden_data import export_random_sam2

    return export_random_sam2(tmp_path_factory.mktemp("sam2_quantize") / "model")


def test_a_sam2_encoder_is_quantized_gated_and_runs_with_its_fp32_decoder(sam2_model_dir, tmp_path):
    out = tmp_path / "int8"
    # forced: int8 on a tiny random model misses the real mask-IoU thresholds, as for SAM's
    options = QuantizeOptions(recipe="ort_dynamic_qint8", force=True, **FAST)
    outcome = quantize_model(sam2_model_dir, out, options, progress=lambda _: None)
    assert outcome.written and outcome.kept.recipe.name == "ort_dynamic_qint8"
    names = sorted(path.name for path in out.iterdir() if path.suffix == ".onnx")
    predictor = SamPredictor(out, threads=2)
    stem = predictor.metadata.model_type
    assert names == [f"{stem}.sam2_decoder.fp32.onnx", f"{stem}.sam2_encoder.int8.onnx"]
    assert predictor.encoder.metadata.part == "sam2_encoder" and predictor.encoder.metadata.precision == "int8"
    gate = outcome.kept.gate
    assert gate.min_cosine > 0.999 and gate.median_iou > 0.9  # the squashed SAM 2 input reached the encoder
    assert outcome.kept.latency.fp32_median_ms > 0 and outcome.kept.latency.candidate_median_ms > 0
