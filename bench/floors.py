"""The floor of each roofline scenario on this CPU: the roofline (roofline.py) over what the scenario runs.

- ``encoder``: the encoder graph, plus the preprocessing's traffic (read the HxWx3 image, write the
  normalized [1, 3, S, S] float32 tensor and read it back into the graph).
- ``predict_1_point``: the per-prompt decoder graph (the prompt stage, else the full decoder) for one
  point plus SAM's padding point, plus upscaling its 3 masks to the original frame
  (``MaskUpscaler.cost``).
- ``everything``: the encoder's floor plus, for each grid point, the per-prompt graph of one point
  (prompts x its cost: the prompt-stage floor); the masks' upscaling and the records are left out,
  since how many masks go that far depends on the thresholds.

Costs are counted on the ONNX form of each graph (the same function OpenVINO runs from its IR), so a
directory without ``.onnx`` graphs gets no floor, with the reason.
"""

from __future__ import annotations

from pathlib import Path

from sam_edge.bench.graph_cost import GraphCost, graph_cost
from sam_edge.bench.op_profile import encoder_feeds, prompt_graph_feeds
from sam_edge.bench.roofline import Peaks, floor_ms

ROOFLINE_SCENARIOS = ("encoder", "predict_1_point", "everything")


def scenario_floors(
    predictor, original_size: tuple[int, int], peaks: Peaks, threads: int, everything_prompts: int = 0
) -> dict[str, dict]:
    """scenario -> {"floor_ms", "gflop", "mbytes"} or {"skipped": reason}, for ROOFLINE_SCENARIOS
    (``everything`` when ``everything_prompts`` > 0: the grid's point count)."""
    floors = {}
    height, width = original_size
    if predictor.encoder is not None:
        size = predictor.metadata.image_size
        preprocessing = height * width * 3 + 2 * 3 * size * size * 4
        encoder_cost = _count(predictor.encoder.path, encoder_feeds(predictor), threads)
        floors["encoder"] = _floor(encoder_cost, peaks, 0.0, preprocessing)
    flops, moved = predictor.mask_upscaler().cost(3)
    prompt_cost = _count(predictor.decoder.path, prompt_graph_feeds(predictor), threads)
    floors["predict_1_point"] = _floor(prompt_cost, peaks, flops, moved)
    if everything_prompts and "floor_ms" in floors.get("encoder", {}):
        one = _floor(prompt_cost, peaks, 0.0, 0.0)  # the masks' upscaling left out (module docstring)
        floors["everything"] = _times_prompts(floors["encoder"], one, everything_prompts)
    return floors


def _times_prompts(encoder: dict, prompt: dict, prompts: int) -> dict:
    """The encoder's floor plus ``prompts`` times one prompt's (the prompt-stage floor, kept apart)."""
    if "floor_ms" not in prompt:
        return prompt
    return {
        "floor_ms": encoder["floor_ms"] + prompts * prompt["floor_ms"],
        "prompt_stage_floor_ms": prompts * prompt["floor_ms"],
        "prompts": prompts,
        "gflop": encoder["gflop"] + prompts * prompt["gflop"],
        "mbytes": encoder["mbytes"] + prompts * prompt["mbytes"],
        "graph": f"{encoder['graph']} + {prompts} x {prompt['graph']}",
    }


def _count(graph: Path, feeds: dict, threads: int) -> GraphCost | str:
    """The graph's counted cost (on its ONNX form), or why it cannot be counted."""
    onnx_graph = Path(graph).with_suffix(".onnx")
    if not onnx_graph.is_file():
        return f"no ONNX form of {Path(graph).name} to count its operations on"
    return graph_cost(onnx_graph, feeds, threads)


def _floor(cost: GraphCost | str, peaks: Peaks, extra_flops: float, extra_bytes: float) -> dict:
    """Floor of a counted graph plus extra work priced at the fp32 GEMM rate / the bandwidth."""
    if isinstance(cost, str):
        return {"skipped": cost}
    rate = peaks.best("fp32") * 1e9
    extra_ms = max(extra_flops / rate, extra_bytes / (peaks.bandwidth_gbs["dram"] * 1e9)) * 1e3 if rate else 0.0
    return {
        "floor_ms": floor_ms(cost, peaks) + extra_ms,
        "gflop": (cost.flops + extra_flops) / 1e9,
        "mbytes": (cost.bytes + extra_bytes) / 1e6,
        "graph": cost.graph,
    }
