"""The engine record is per CPU: a model directory copied to another CPU is told to be re-measured."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
from cli_runner import run_cli

from sam_edge.runtime import backend_choice
from sam_edge.runtime.backend_choice import BackendChoice, load_backend_choices, write_backend_choice
from sam_edge.runtime.errors import SamEdgeNote
from sam_edge.runtime.model_dir import find_model_files

HERE = ("Test CPU 9000", "avx2 fma avx512f")
ELSEWHERE = ("Other CPU 1", "avx2 fma")


@pytest.fixture()
def model_copy(exported_golden_model, tmp_path):
    """A writable copy of vit_small (ONNX + OpenVINO IR, no record yet)."""
    return shutil.copytree(exported_golden_model("vit_small"), tmp_path / "model")


@pytest.fixture()
def on_cpu(monkeypatch):
    """Pretend the running CPU is (model name, ISA summary)."""

    from sam_edge.bench import engine_choice

    def set_cpu(cpu):
        for module in (backend_choice, engine_choice):  # the reader and the measurer
            monkeypatch.setattr(module, "this_cpu", lambda: cpu)

    set_cpu(HERE)
    return set_cpu


def times(faster: str) -> dict[str, float]:
    return {"onnxruntime": 1.0, "openvino": 2.0} if faster == "onnxruntime" else {"onnxruntime": 2.0, "openvino": 1.0}


def choice(cpu, encoder_faster: str, decoder_faster: str, threads: int = 2) -> BackendChoice:
    return BackendChoice(times(encoder_faster), times(decoder_faster), threads, *cpu)


def engines(model_dir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files = find_model_files(model_dir)
    notes = [str(w.message) for w in caught if issubclass(w.category, SamEdgeNote)]
    return (files.encoder_backend, files.decoder_backend), notes


def test_the_measurement_of_the_running_cpu_is_followed(model_copy, on_cpu):
    write_backend_choice(choice(ELSEWHERE, "onnxruntime", "onnxruntime"), model_copy, "vit_small")
    write_backend_choice(choice(HERE, "openvino", "onnxruntime"), model_copy, "vit_small")
    assert engines(model_copy) == (("openvino", "onnxruntime"), [])
    on_cpu(ELSEWHERE)
    assert engines(model_copy) == (("onnxruntime", "onnxruntime"), [])


def test_a_record_of_other_cpus_only_is_reported_in_one_line_and_the_default_order_runs(model_copy, on_cpu):
    write_backend_choice(choice(ELSEWHERE, "openvino", "openvino"), model_copy, "vit_small")
    chosen, notes = engines(model_copy)
    assert chosen == ("onnxruntime", "onnxruntime")
    assert notes == [
        "vit_small.backends.json has no measurement for this CPU, Test CPU 9000 (avx2 fma avx512f); it has "
        "Other CPU 1 (avx2 fma); running onnxruntime where it has the graphs, in their own precision; "
        f"`sam-edge backends {model_copy}` measures here"
    ]
    assert find_model_files(model_copy, backend="openvino").encoder.suffix == ".xml"  # a named backend: no note


def test_unreadable_cpu_features_match_no_measurement(model_copy, on_cpu):
    write_backend_choice(choice(HERE, "openvino", "openvino"), model_copy, "vit_small")
    on_cpu(("Test CPU 9000", backend_choice.UNREADABLE_ISA))
    chosen, notes = engines(model_copy)
    assert chosen == ("onnxruntime", "onnxruntime")
    assert len(notes) == 1 and notes[0].startswith("this CPU's features cannot be read (Test CPU 9000); running")


def test_no_record_at_all_says_nothing(model_copy, on_cpu):
    assert engines(model_copy) == (("onnxruntime", "onnxruntime"), [])


def test_writing_keeps_other_cpus_and_replaces_the_same_cpu_and_threads(model_copy, on_cpu):
    write_backend_choice(choice(ELSEWHERE, "openvino", "openvino"), model_copy, "vit_small")
    write_backend_choice(choice(HERE, "openvino", "openvino"), model_copy, "vit_small")
    write_backend_choice(choice(HERE, "onnxruntime", "openvino", threads=1), model_copy, "vit_small")
    write_backend_choice(choice(HERE, "onnxruntime", "onnxruntime"), model_copy, "vit_small")  # replaces threads=2
    record = json.loads((model_copy / "vit_small.backends.json").read_text())
    assert record["format"] == 2
    keys = [(m["machine"], m["isa"], m["threads"], m["preferred"]["encoder"]) for m in record["measurements"]]
    assert keys == [
        ("Other CPU 1", "avx2 fma", 2, "openvino"),
        ("Test CPU 9000", "avx2 fma avx512f", 1, "onnxruntime"),
        ("Test CPU 9000", "avx2 fma avx512f", 2, "onnxruntime"),
    ]
    assert backend_choice.load_backend_choice(model_copy, threads=1).preferred("decoder") == "openvino"
    assert backend_choice.load_backend_choice(model_copy, threads=2).preferred("decoder") == "onnxruntime"


def test_a_record_of_the_earlier_layout_reads_as_an_unknown_cpu(model_copy, on_cpu):
    old = {"encoder_ms": {"onnxruntime": 2.0, "openvino": 1.0}, "decoder_ms": {"onnxruntime": 2.0, "openvino": 1.0}}
    (model_copy / "vit_small.backends.json").write_text(json.dumps(old | {"threads": 2, "machine": HERE[0]}))
    (only,) = load_backend_choices(model_copy)
    assert (only.machine, only.isa, only.cpu) == (HERE[0], "", "Test CPU 9000 (flags not recorded)")
    chosen, notes = engines(model_copy)
    assert chosen == ("onnxruntime", "onnxruntime") and "it has Test CPU 9000 (flags not recorded)" in notes[0]
    write_backend_choice(choice(HERE, "openvino", "openvino"), model_copy, "vit_small")  # measured here: replaces it
    assert [(c.machine, c.isa) for c in load_backend_choices(model_copy)] == [HERE]


@pytest.mark.parametrize("text", ["{not json", '{"measurements": [{"encoder_ms": {"tpu": 1}}]}', "[]"])
def test_an_unreadable_record_is_no_record(model_copy, on_cpu, text):
    (model_copy / "vit_small.backends.json").write_text(text)
    assert engines(model_copy) == (("onnxruntime", "onnxruntime"), [])


def test_the_cli_prints_the_note_once_as_a_note_line(model_copy, on_cpu, tmp_path):
    write_backend_choice(choice(ELSEWHERE, "openvino", "openvino"), model_copy, "vit_small")
    status, _, err = run_cli(
        "segment", "assets/sample.png", "--model", model_copy, "--point", "10,10", "--json", tmp_path / "r.json"
    )
    assert status == 0, err
    notes = [line for line in err.splitlines() if "no measurement for this CPU" in line]
    assert len(notes) == 1 and notes[0].startswith("sam-edge segment: note: vit_small.backends.json has no")


def test_sam_edge_backends_adds_this_cpu_and_keeps_the_others(model_copy, on_cpu):
    write_backend_choice(choice(ELSEWHERE, "openvino", "openvino"), model_copy, "vit_small")
    status, out, err = run_cli("backends", model_copy, "--rounds", "1", "--threads", "1")
    assert status == 0, err
    assert "on Test CPU 9000 (avx2 fma avx512f), 1 threads" in out
    assert [(c.machine, c.threads) for c in load_backend_choices(model_copy)] == [("Other CPU 1", 2), (HERE[0], 1)]
    assert engines(model_copy)[1] == []  # measured here now: no note


def test_the_bench_measures_a_model_this_cpu_has_no_entry_for_once_and_records_it(model_copy, on_cpu):
    from sam_edge.bench.engine_choice import ensure_measured_here

    write_backend_choice(choice(ELSEWHERE, "openvino", "openvino"), model_copy, "vit_small")
    messages = []
    measured = ensure_measured_here(model_copy, threads=1, progress=messages.append)
    assert (measured.machine, measured.isa, measured.threads) == (*HERE, 1)
    assert messages[0] == "  engines not measured on this CPU at 1 threads: timing them first"
    assert messages[-1].startswith("  recorded in vit_small.backends.json: encoder ")
    assert [c.machine for c in load_backend_choices(model_copy)] == ["Other CPU 1", HERE[0]]
    again = []
    assert ensure_measured_here(model_copy, threads=1, progress=again.append) == measured and again == []


def test_the_bench_leaves_the_bundled_model_and_single_engine_models_alone(on_cpu, tmp_path, exported_golden_model):
    from sam_edge.bench.engine_choice import ensure_measured_here
    from sam_edge.runtime.default_model import bundled_model_dir

    bundled = bundled_model_dir()
    before = (bundled / "nano.backends.json").read_bytes()
    messages = []
    ensure_measured_here(bundled, threads=1, progress=messages.append)
    assert messages == [] and (bundled / "nano.backends.json").read_bytes() == before
    onnx_only = shutil.copytree(
        exported_golden_model("vit_small"), tmp_path / "onnx", ignore=shutil.ignore_patterns("*.xml", "*.bin")
    )
    assert ensure_measured_here(onnx_only, threads=1, progress=messages.append) is None and messages == []
