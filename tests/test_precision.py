"""A graph runs in the precision its metadata names, on every engine and CPU; bf16 only when asked for.

The tests hold on any CPU: where a result depends on the CPU (native bf16 or not), both outcomes are
asserted, each on the CPU it belongs to.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace

import pytest
from cli_runner import run_cli

from sam_edge.quantize.artifacts import stamp_metadata
from sam_edge.quantize.pipeline import QuantizeOptions, quantize_model
from sam_edge.quantize.recipes import PRESETS, auto_candidates, missing_cpu_feature
from sam_edge.runtime.backends import ORT_ARM64_BF16_FASTMATH, open_backend, read_graph_metadata
from sam_edge.runtime.cpu import cpu_model, isa_summary
from sam_edge.runtime.errors import SamEdgeError
from sam_edge.runtime.predictor import SamPredictor

ov = pytest.importorskip("openvino")
from sam_edge.runtime.openvino_backend import cpu_capabilities, inference_precision, openvino_config  # noqa: E402

NATIVE_BF16 = "BF16" in cpu_capabilities()
FAST = dict(gate_images=2, miou_images=0, rounds=1, threads=2)


@pytest.fixture(scope="module")
def bf16_model_dir(model_dir, tmp_path_factory):
    """A copy of the test model whose OpenVINO encoder says bf16 (the graph itself unchanged)."""
    out = tmp_path_factory.mktemp("bf16")
    for graph in model_dir.iterdir():
        if ".encoder." not in graph.name:
            shutil.copy2(graph, out / graph.name)
    source = next(model_dir.glob("*.encoder.fp32.xml"))
    stamp_metadata(
        source, out / source.name.replace(".fp32.", ".bf16."), replace(read_graph_metadata(source), precision="bf16")
    )
    return out


def test_fp32_ir_compiles_and_executes_in_f32(model_dir):
    for graph in sorted(model_dir.glob("*.fp32.xml")):
        backend = open_backend(graph, threads=2)
        assert backend.compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32, graph.name
        assert backend.executed_precision() == "f32", graph.name


def test_only_a_bf16_graph_asks_for_bf16():
    assert [openvino_config(p, 2)["INFERENCE_PRECISION_HINT"] for p in ("fp32", "fp16", "int8")] == ["f32"] * 3
    assert inference_precision("bf16") == ("bf16" if NATIVE_BF16 else "f32")


def test_a_bf16_graph_runs_in_bf16_where_the_cpu_has_it_and_in_f32_elsewhere(bf16_model_dir):
    backend = open_backend(next(bf16_model_dir.glob("*.encoder.bf16.xml")), threads=2)
    executed = backend.executed_precision()
    if NATIVE_BF16:
        assert backend.compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16
        assert executed.startswith("bf16 ") and "f32" in executed, executed  # products in bf16, the rest in f32
    else:
        assert executed == "f32"


def test_the_runtime_opens_a_bf16_encoder_with_fp32_decoders(bf16_model_dir, model_dir, sample_rgb):
    bf16 = SamPredictor(bf16_model_dir, backend="openvino", threads=2)  # precision: the one the directory holds
    assert bf16.encoder.metadata.precision == "bf16" and bf16.decoder.metadata.precision == "fp32"
    assert all(stage.executed_precision() == "f32" for stage in (bf16.decoder.image_stage, bf16.decoder.per_prompt))


def test_onnxruntime_sessions_pin_bf16_fast_math_off(model_dir):
    backend = open_backend(next(model_dir.glob("*.encoder.fp32.onnx")), threads=2)
    assert backend.session.get_session_options().get_session_config_entry(ORT_ARM64_BF16_FASTMATH) == "0"
    assert backend.executed_precision() == "f32"


def test_bf16_recipe_is_offered_only_on_cpus_with_native_bf16():
    recipe = PRESETS["ov_bf16"]
    assert missing_cpu_feature(recipe, {"avx512_bf16"}) is None and missing_cpu_feature(recipe, {"amx_bf16"}) is None
    assert missing_cpu_feature(recipe, {"avx2", "avx512f", "avx512_vnni"}).startswith(
        "recipe ov_bf16 needs a CPU with avx512_bf16 or amx_bf16, which this CPU does not have"
    )
    assert "ov_bf16" not in [r.name for r in auto_candidates("avx512_vnni", {"avx2", "avx512_vnni"})]
    assert "ov_bf16" in [r.name for r in auto_candidates("avx512_vnni", {"avx2", "avx512_vnni", "avx512_bf16"})]


def test_bf16_recipe_on_a_cpu_without_bf16_is_refused_in_one_line_and_writes_nothing(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("sam_edge.quantize.pipeline.cpu_flags", lambda: {"avx2", "fma"})
    with pytest.raises(SamEdgeError, match="^recipe ov_bf16 needs a CPU with avx512_bf16 or amx_bf16") as error:
        quantize_model(model_dir, tmp_path / "out", QuantizeOptions(recipe="ov_bf16", **FAST), progress=lambda _: None)
    assert "\n" not in str(error.value) and not (tmp_path / "out").exists() and not list(tmp_path.iterdir())


@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16: the recipe is refused here (test above)")
def test_bf16_recipe_is_gated_timed_and_loaded_as_bf16(model_dir, tmp_path):
    outcome = quantize_model(
        model_dir, tmp_path / "bf16", QuantizeOptions(recipe="ov_bf16", force=True, **FAST), progress=lambda _: None
    )
    candidate = outcome.kept
    assert outcome.written and candidate.recipe.name == "ov_bf16" and candidate.latency.speedup > 0
    assert 0.99 < candidate.gate.min_cosine < 1.0  # bf16 moves the embedding a little, never nothing
    meta = read_graph_metadata(tmp_path / "bf16" / "vit_small.encoder.bf16.xml")
    assert (meta.precision, meta.recipe) == ("bf16", "ov_bf16")
    assert SamPredictor(tmp_path / "bf16", threads=2).encoder.executed_precision().startswith("bf16 ")


@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16: the recipe is refused here")
def test_bf16_decoder_recipe_writes_bf16_decoders_gated_with_the_encoder_and_times_predict(model_dir, tmp_path):
    out = tmp_path / "bf16"
    outcome = quantize_model(
        model_dir, out, QuantizeOptions(recipe="ov_bf16_decoder", force=True, **FAST), progress=lambda _: None
    )
    candidate = outcome.kept
    assert candidate.predict_latency.speedup > 0 and len(candidate.predict_latency.fp32_ms) == 10
    graphs = sorted(p.name for p in out.iterdir() if p.suffix in (".onnx", ".xml"))
    assert graphs == [
        f"vit_small.{part}.bf16.xml" for part in ("decoder", "decoder_image", "decoder_prompt", "encoder")
    ]
    assert {read_graph_metadata(out / name).precision for name in graphs} == {"bf16"}
    predictor = SamPredictor(out, threads=2)
    assert predictor.decoder.path.name == "vit_small.decoder_prompt.bf16.xml"
    # products in bf16; shape arithmetic, softmax and the like stay f32 (e.g. "f32 258 ops, bf16 179 ops")
    assert re.search(r"\bbf16 \d+ ops\b", predictor.decoder.per_prompt.executed_precision())
    report = json.loads((out / "quantization.json").read_text())
    assert report["decoder"] == "bf16 (ov_bf16_decoder: gated with the encoder)"
    assert report["candidates"][0]["predict_latency"]["rounds"] == 10
    assert "1-point predict" in (out / "quantization.md").read_text()


def test_info_prints_what_each_graph_executes_next_to_the_isa(model_dir):
    status, stdout, stderr = run_cli("info", model_dir)
    assert status == 0, stderr
    assert stdout.splitlines()[0] == f"CPU {cpu_model()}: {isa_summary()}"
    executes = dict(re.findall(r"^(\S+\.(?:onnx|xml))\s.*\n.*\n  executes on this CPU: (.*)$", stdout, flags=re.M))
    graphs = sorted(p.name for p in model_dir.iterdir() if p.suffix in (".onnx", ".xml"))
    assert executes == {name: ("openvino f32" if name.endswith(".xml") else "onnxruntime f32") for name in graphs}
    status, stdout, stderr = run_cli("info", model_dir, "--json")
    assert status == 0 and {record["executes"] for record in json.loads(stdout).values()} == {
        "openvino f32",
        "onnxruntime f32",
    }
