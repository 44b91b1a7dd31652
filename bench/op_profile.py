"""Where a graph spends its time: onnxruntime's per-node profile, summed per operator type.

Used by ``sam-edge bench --profile`` for the encoder and the per-prompt decoder graph (the prompt
stage of the split decoder, else the full decoder), so a speed-up can be traced to the ops it
changed. onnxruntime only: OpenVINO's per-layer counters name fused kernels, not ONNX operators.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sam_edge.runtime.backends import resolve_threads
from sam_edge.runtime.decoders import SplitDecoder
from sam_edge.runtime.embedding import HIGH_RES_FIELDS
from sam_edge.runtime.interface import DECODER_IMAGE, SAM2_DECODER_IMAGE
from sam_edge.runtime.predictor import SamPredictor
from sam_edge.runtime.sam2_decoder import Sam2Outputs

KERNEL_SUFFIX = "_kernel_time"


@dataclass(frozen=True)
class OpShare:
    """One operator type's total kernel time per run (ms), its share of all kernel time, and its node count."""

    op_type: str
    ms_per_run: float
    share: float
    nodes: int


@dataclass(frozen=True)
class GraphProfile:
    graph: str  # file name
    runs: int
    ops: tuple[OpShare, ...]  # most expensive first

    @property
    def total_ms(self) -> float:
        return sum(op.ms_per_run for op in self.ops)


def profile_onnx(path: Path, feeds: dict[str, np.ndarray], runs: int, threads: int | None = None) -> GraphProfile:
    """Run ``path`` ``runs`` + 1 times with onnxruntime's profiler on; the first run is not counted."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="sam-edge-profile.") as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads = resolve_threads(threads)
        options.log_severity_level = 3
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for _ in range(runs + 1):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    return GraphProfile(Path(path).name, runs, _op_shares(events, runs))


def _op_shares(events: list[dict], runs: int) -> tuple[OpShare, ...]:
    """Kernel events -> per-op totals, skipping each node's first execution (first-run allocations)."""
    seen: set[str] = set()
    micros, nodes = Counter(), {}
    for event in events:
        if event.get("cat") != "Node" or not event.get("name", "").endswith(KERNEL_SUFFIX):
            continue
        name, op_type = event["name"], event["args"]["op_name"]
        if name not in seen:
            seen.add(name)
            continue
        micros[op_type] += event["dur"]
        nodes.setdefault(op_type, set()).add(name)
    total = sum(micros.values()) or 1
    return tuple(
        OpShare(op, value / runs / 1000.0, value / total, len(nodes[op])) for op, value in micros.most_common()
    )


def profile_model_dir(model_dir: Path, threads: int | None = None, runs: int = 10) -> list[GraphProfile]:
    """Profiles of a model directory's ONNX graphs (see ``profile_model``)."""
    return profile_model(SamPredictor(model_dir, backend="onnxruntime", threads=threads), runs, threads)


def profile_model(predictor: SamPredictor, runs: int = 10, threads: int | None = None) -> list[GraphProfile]:
    """Profiles of the encoder (if any) and of the per-prompt decoder graph, one 1-point prompt."""
    profiles = []
    if predictor.encoder is not None and predictor.encoder.path.suffix == ".onnx":
        profiles.append(profile_onnx(predictor.encoder.path, encoder_feeds(predictor), max(2, runs // 4), threads))
    if predictor.decoder.path.suffix != ".onnx":
        return profiles
    profiles.append(profile_onnx(predictor.decoder.path, prompt_graph_feeds(predictor), runs, threads))
    return profiles


def encoder_feeds(predictor: SamPredictor) -> dict[str, np.ndarray]:
    """A seeded random normalized image [1, 3, S, S] float32 for the encoder graph."""
    size = predictor.metadata.image_size
    return {"image": np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)}


def prompt_graph_feeds(predictor: SamPredictor, points: int = 1) -> dict[str, np.ndarray]:
    """Feeds of the per-prompt decoder graph (the prompt stage, else the full decoder; SAM 2's decoder)
    for one prompt of ``points`` foreground points plus the padding point, on seeded random features."""
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal(predictor.metadata.embedding_shape).astype(np.float32)
    coords = np.concatenate([rng.uniform(100, 900, (points, 2)), np.zeros((1, 2))]).astype(np.float32)[None]
    prompt = {"point_coords": coords, "point_labels": np.array([[1.0] * points + [-1.0]], np.float32)}
    no_mask = {"mask_input": np.zeros((1, 1, 256, 256), np.float32), "has_mask_input": np.zeros(1, np.float32)}
    if isinstance(predictor.decoder, Sam2Outputs):  # the features its encoder writes
        shapes = predictor.metadata.extra.get("feature_shapes", {})
        features = {name: rng.standard_normal(shapes[name]).astype(np.float32) for name in HIGH_RES_FIELDS}
        features["image_embed"] = embeddings
        if isinstance(predictor.decoder, SplitDecoder):
            names = SAM2_DECODER_IMAGE.output_names
            return dict(zip(names, predictor.decoder.image_stage.run(names, features | no_mask))) | prompt
        return features | prompt | no_mask
    if isinstance(predictor.decoder, SplitDecoder):
        stage = predictor.decoder.image_stage.run(
            DECODER_IMAGE.output_names, {"image_embeddings": embeddings, **no_mask}
        )
        return dict(zip(DECODER_IMAGE.output_names, stage)) | prompt
    return {"image_embeddings": embeddings, **prompt, **no_mask}


def markdown(profiles: list[GraphProfile], top: int = 12) -> str:
    """One table per graph: the ``top`` op types by time, then the rest summed."""
    blocks = []
    for profile in profiles:
        lines = [
            f"### {profile.graph}: {profile.total_ms:.1f} ms of kernel time per run (mean of {profile.runs} runs)",
            "",
            "| op type | ms / run | share | nodes |",
            "|---|---|---|---|",
        ]
        for op in profile.ops[:top]:
            lines.append(f"| {op.op_type} | {op.ms_per_run:.2f} | {op.share:.1%} | {op.nodes} |")
        rest = profile.ops[top:]
        if rest:
            lines.append(
                f"| (other {len(rest)}) | {sum(o.ms_per_run for o in rest):.2f} | {sum(o.share for o in rest):.1%} | "
                f"{sum(o.nodes for o in rest)} |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
