"""``sam-edge quantize``: apply recipes to a model's encoder, gate them, time them, keep one.

Everything is checked before any work (recipe, model directory and its metadata, installed backend,
calibration folder, output directory), every candidate is built in a staging directory beside the
output, and only the kept result is moved into ``out_dir``; a failed or interrupted run writes nothing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from sam_edge.quantize import calibration as calib
from sam_edge.quantize.apply import apply_recipe, check_backend_installed
from sam_edge.quantize.artifacts import (
    copy_graph,
    graph_bytes,
    move_graph,
    node_summary,
    remove_graph,
    stamp_metadata,
)
from sam_edge.quantize.gate import GateResult, fp32_reference, run_gate
from sam_edge.quantize.isa import cpu_flags, detect_isa
from sam_edge.quantize.recipes import (
    DEFAULT_CALIBRATION_IMAGES,
    DEFAULT_GATE_IMAGES,
    DEFAULT_ROUNDS,
    PRESETS,
    GateThresholds,
    Recipe,
    auto_candidates,
    missing_cpu_feature,
    recipe_named,
)
from sam_edge.quantize.report import record_in_metadata, write_reports
from sam_edge.quantize.timing import LatencyComparison, compare_latency, compare_predict_latency
from sam_edge.runtime.atomic_write import check_output_dir, existing_ancestor, prepare_output_dir, staging_dir
from sam_edge.runtime.backends import BACKENDS, read_graph_metadata
from sam_edge.runtime.default_model import DEFAULT_MODEL
from sam_edge.runtime.errors import ModelFileError, OutputPathError, SamEdgeError
from sam_edge.runtime.graph_file import GraphFile, find_graphs
from sam_edge.runtime.predictor import SamPredictor

MIN_SPEEDUP = 1.05  # `auto` keeps a recipe only when it beats fp32 by more than run-to-run noise
ENCODER_PARTS = ("encoder", "sam2_encoder")
DECODER_PARTS = (
    "decoder",
    "decoder_image",
    "decoder_prompt",
    "sam2_decoder",
    "sam2_decoder_image",
    "sam2_decoder_prompt",
)


@dataclass(frozen=True)
class QuantizeOptions:
    recipe: str = "auto"
    calib_dir: Path | None = None
    gate_dir: Path | None = None
    calib_images: int = DEFAULT_CALIBRATION_IMAGES
    gate_images: int = DEFAULT_GATE_IMAGES
    miou_images: int | None = None  # None: 20 for the default model (trained on the scenes), else 0
    rounds: int = DEFAULT_ROUNDS
    force: bool = False
    threads: int | None = None
    thresholds: GateThresholds = GateThresholds()


@dataclass
class Candidate:
    """One recipe's result; ``error`` is set when the recipe could not be applied."""

    recipe: Recipe
    graph: Path | None = None
    gate: GateResult | None = None
    latency: LatencyComparison | None = None
    nodes: dict = field(default_factory=dict)
    size_bytes: int = 0
    error: str | None = None
    predict_latency: LatencyComparison | None = None  # recipes that change the decoder too

    @property
    def passed(self) -> bool:
        return self.error is None and self.gate is not None and self.gate.passed


@dataclass
class QuantizeOutcome:
    model_dir: Path
    out_dir: Path
    isa: str
    fp32_bytes: int
    candidates: list[Candidate]
    kept: Candidate | None  # None: fp32 kept (auto) or nothing written
    written: bool
    forced: bool
    skipped: list[str]
    sources: dict[str, str]


def quantize_model(
    model_dir: Path,
    out_dir: Path,
    options: QuantizeOptions,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> QuantizeOutcome:
    """Run ``options.recipe`` (a preset, "a,b,...", "all" or "auto") on ``model_dir``'s encoder;
    write the kept model."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    isa, flags = detect_isa(), cpu_flags()
    recipes, skipped = _recipes(options.recipe, isa, flags), []  # skipped: filled by _runnable
    fp32 = _fp32_encoders(model_dir)
    metadata = read_graph_metadata(next(iter(fp32.values())))
    search = _is_search(options.recipe)
    recipes = _runnable(recipes, fp32, skipped, single=not search, flags=flags)
    _check_out_dir(out_dir)
    needs_calibration = any(recipe.needs_calibration for recipe in recipes)
    calib_source = (
        (
            calib.folder_images(options.calib_dir, options.calib_images)
            if options.calib_dir
            else calib.generated_calibration(options.calib_images)
        )
        if needs_calibration
        else None
    )
    gate_source = (
        calib.folder_images(options.gate_dir, options.gate_images, role="gate")
        if options.gate_dir
        else calib.benchmark_gate(options.gate_images)
    )
    miou_images = (
        options.miou_images if options.miou_images is not None else (20 if metadata.model_type == DEFAULT_MODEL else 0)
    )

    with staging_dir(existing_ancestor(out_dir), "sam-edge-quantize") as staging:
        progress(f"quantizing {model_dir} ({metadata.model_id}) on {isa}: {', '.join(r.name for r in recipes)}")
        feeds = (
            calib.calibration_feeds(calib.encoder_inputs(calib_source, metadata, "calibration images"))
            if calib_source
            else []
        )
        reference = fp32_reference(SamPredictor(model_dir, threads=options.threads), gate_source, miou_images)
        timing_feed = {"image": calib.encoder_input(reference.images[0], metadata)}
        candidates = []
        for recipe in recipes:
            candidate = _try_recipe(
                recipe,
                model_dir,
                fp32,
                staging / recipe.name,
                feeds,
                reference,
                timing_feed,
                miou_images,
                options,
                progress,
            )
            if candidate.error and not search:
                raise SamEdgeError(f"recipe {recipe.name} failed: {candidate.error}")
            candidates.append(candidate)
        kept, written, forced = _choose(candidates, options)
        outcome = QuantizeOutcome(
            model_dir,
            out_dir,
            isa,
            graph_bytes(fp32.get("onnxruntime") or fp32["openvino"]),
            candidates,
            kept,
            written,
            forced,
            skipped,
            {
                "calibration": calib_source.description if calib_source else "none",
                "gate": gate_source.description,
                "miou_images": str(miou_images),
            },
        )
        if written:
            _write(outcome, model_dir, fp32, staging)
        return outcome


def _recipes(name: str, isa: str, flags: set[str]) -> list[Recipe]:
    """ "auto": this CPU's candidates; "all": every preset; "a,b": those presets; else one preset."""
    if name == "auto":
        return auto_candidates(isa, flags)
    if name == "all":
        return list(PRESETS.values())
    return [recipe_named(part.strip()) for part in name.split(",")]


def _is_search(name: str) -> bool:
    """Several recipes: keep the fastest that passes, or fp32 (a single recipe is kept or refused)."""
    return name in ("auto", "all") or "," in name


def _runnable(
    recipes: list[Recipe], fp32: dict[str, Path], skipped: list[str], single: bool, flags: set[str]
) -> list[Recipe]:
    """Recipes this CPU can run whose toolchain is installed; a single named recipe that cannot run is an error."""
    runnable = []
    for recipe in recipes:
        missing = missing_cpu_feature(recipe, flags)
        if missing:
            if single:
                raise SamEdgeError(missing)
            skipped.append(missing)
            continue
        try:
            check_backend_installed(recipe)
        except SamEdgeError as error:
            if single:
                raise
            skipped.append(f"{recipe.name}: {error}")
            continue
        if recipe.backend == "onnxruntime" and "onnxruntime" not in fp32:
            message = f"recipe {recipe.name} runs on onnxruntime and needs the model's *.encoder.fp32.onnx"
            if single:
                raise ModelFileError(message)
            skipped.append(message)
            continue
        runnable.append(recipe)
    if not runnable:
        raise SamEdgeError("no recipe can run here: " + "; ".join(skipped))
    return runnable


def _fp32_encoders(model_dir: Path) -> dict[str, Path]:
    """backend -> fp32 encoder graph to start from (OpenVINO reads the ONNX graph when there is no IR)."""
    if not model_dir.is_dir():
        raise ModelFileError(f"model directory {model_dir} does not exist")
    found = {}
    for part in ENCODER_PARTS:  # SAM's encoder, else SAM 2's
        found = {backend: find_graphs(model_dir, part, "fp32", backend) for backend in BACKENDS}
        if any(found.values()):
            break
    else:
        raise ModelFileError(
            f"{model_dir} has no fp32 encoder graph (*.encoder.fp32.onnx or .xml, or SAM 2's "
            "*.sam2_encoder.fp32.*); export one with `sam-edge export`"
        )
    if any(len(graphs) > 1 for graphs in found.values()):
        raise ModelFileError(f"{model_dir} holds several encoder graphs; keep one model per directory")
    sources = {}
    if found["onnxruntime"]:
        sources["onnxruntime"] = found["onnxruntime"][0]
    sources["openvino"] = (found["openvino"] or found["onnxruntime"])[0]
    return sources


def _check_out_dir(out_dir: Path) -> None:
    check_output_dir(out_dir)
    if out_dir.is_dir() and any(p.suffix in (".onnx", ".xml") for p in out_dir.iterdir()):
        raise OutputPathError(f"output directory {out_dir} already holds graphs; choose a new or empty directory")


def _try_recipe(
    recipe, model_dir, fp32, work, feeds, reference, timing_feed, miou_images, options, progress
) -> Candidate:
    work.mkdir(parents=True)
    candidate = Candidate(recipe)
    source = fp32[recipe.backend]
    target = GraphFile.parse(source).with_(precision=recipe.precision, backend=recipe.backend).path(work)
    progress(f"{recipe.name}: quantizing {source.name} -> {target.name}")
    try:
        apply_recipe(recipe, source, target, feeds)
    except Exception as error:  # the toolchains raise many untyped errors; record one line and go on
        candidate.error = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
        progress(f"{recipe.name}: failed ({candidate.error})")
        return candidate
    stamp_metadata(target, target, replace(read_graph_metadata(source), precision=recipe.precision, recipe=recipe.name))
    decoders = [
        copy_graph(graph, work, recipe.backend)
        for part in DECODER_PARTS
        for graph in _decoder_sources(model_dir, part, recipe.backend)
    ]
    if getattr(recipe, "decoder_too", False):
        for graph in decoders:
            stamp_metadata(
                graph,
                GraphFile.parse(graph).with_(precision=recipe.precision).path(work),
                replace(read_graph_metadata(graph), precision=recipe.precision, recipe=recipe.name),
            )
    predictor = SamPredictor(work, backend=recipe.backend, precision=recipe.precision, threads=options.threads)
    candidate.gate = run_gate(predictor, reference, miou_images, options.thresholds)
    del predictor
    progress(f"{recipe.name}: timing encoder vs fp32 ({options.rounds} rounds each, {recipe.backend})")
    candidate.latency = compare_latency(recipe.backend, source, target, timing_feed, options.rounds, options.threads)
    if getattr(recipe, "decoder_too", False):
        progress(f"{recipe.name}: timing 1-point predict vs the fp32 decoder ({recipe.backend})")
        candidate.predict_latency = compare_predict_latency(
            work, recipe.backend, recipe.precision, reference.images[0], max(options.rounds, 10), options.threads
        )
        for graph in decoders:  # the fp32 copies served as the reference; the model keeps its bf16 decoder
            remove_graph(graph)
    candidate.graph, candidate.nodes, candidate.size_bytes = target, node_summary(target), graph_bytes(target)
    verdict = "passes" if candidate.gate.passed else "fails (" + "; ".join(candidate.gate.failures()) + ")"
    progress(
        f"{recipe.name}: {candidate.latency.speedup:.2f}x fp32, cosine {candidate.gate.min_cosine:.5f}, "
        f"median IoU {candidate.gate.median_iou:.4f}: gate {verdict}"
    )
    return candidate


def _decoder_sources(model_dir: Path, part: str, backend: str) -> list[Path]:
    """The fp32 ``part`` graph for ``backend``: its own format if present, else the ONNX graph (converted)."""
    return find_graphs(model_dir, part, "fp32", backend) or find_graphs(model_dir, part, "fp32", "onnxruntime")


def _choose(candidates: list[Candidate], options: QuantizeOptions) -> tuple[Candidate | None, bool, bool]:
    """(kept candidate or None for fp32, whether anything is written, whether it was forced)."""
    if not _is_search(options.recipe):
        (only,) = candidates
        if only.passed or options.force:
            return only, True, not only.passed
        return None, False, False
    fast = [c for c in candidates if c.passed and c.latency.speedup >= MIN_SPEEDUP]
    return (max(fast, key=lambda c: c.latency.speedup) if fast else None), True, False


def _write(outcome: QuantizeOutcome, model_dir: Path, fp32: dict[str, Path], staging: Path) -> None:
    out_dir = prepare_output_dir(outcome.out_dir)
    kept = outcome.kept
    if kept is None:  # auto found nothing faster that passes: the fp32 model, as it was
        work = staging / "fp32"
        work.mkdir()
        backend = "onnxruntime" if "onnxruntime" in fp32 else "openvino"
        graphs = [copy_graph(fp32[backend], work, backend)]
        graphs += [
            copy_graph(g, work, backend) for part in DECODER_PARTS for g in _decoder_sources(model_dir, part, backend)
        ]
    else:
        stamp_metadata(kept.graph, kept.graph, record_in_metadata(read_graph_metadata(kept.graph), outcome))
        graphs = sorted(p for p in kept.graph.parent.iterdir() if p.suffix in (".onnx", ".xml"))
    write_reports(outcome, out_dir)
    for graph in sorted(graphs, key=lambda g: GraphFile.parse(g).part in ENCODER_PARTS):  # the encoder last
        move_graph(graph, out_dir / graph.name)
