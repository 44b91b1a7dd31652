"""Add the subnormal flush to a prompt-stage ONNX graph exported before the exporter did it itself.

    .venv/bin/python scripts/flush_subnormal_weights.py sam_edge/models/nano/nano.decoder_prompt.fp32.onnx

Why: trained weights put most softmax weights of the token->image attention below float32's
smallest normal number, and every product with such a subnormal costs an x86 core a microcode
assist (docs/architecture.md, "Subnormal numbers"). `sam-edge export` now flushes them inside the
graph (export/modeling/split_decoder.py). A graph exported earlier, whose checkpoint is not at hand,
gets the same flush here: after each Softmax node, weights below the smallest normal become 0
(Less + Where). The function is unchanged: the script runs the old and the new graph on prompts over
the image of a bundled sample and refuses to write unless every output matches within 1e-6; the
file is replaced atomically, its metadata record kept. A graph that already has the flush is left
as it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from sam_edge.runtime.atomic_write import atomic_output
from sam_edge.runtime.predictor import SamPredictor

SMALLEST_NORMAL = "sam_edge_smallest_normal_f32"
ZERO = "sam_edge_zero_f32"
SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample_scene.png"
TOLERANCE = 1e-6


def flushed(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of ``model`` with weights < float32's smallest normal zeroed after each Softmax; and how many."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    if any(initializer.name == SMALLEST_NORMAL for initializer in graph.initializer):
        return model, 0
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(np.finfo(np.float32).tiny, np.float32), SMALLEST_NORMAL),
            numpy_helper.from_array(np.array(0.0, np.float32), ZERO),
        ]
    )
    nodes, count = [], 0
    for node in graph.node:
        nodes.append(node)
        if node.op_type != "Softmax":
            continue
        weights, raw = node.output[0], node.output[0] + "_with_subnormals"
        node.output[0] = raw
        nodes.append(helper.make_node("Less", [raw, SMALLEST_NORMAL], [raw + "_is_subnormal"]))
        nodes.append(helper.make_node("Where", [raw + "_is_subnormal", ZERO, raw], [weights]))
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model, count


def prompt_feeds(model_dir: Path) -> list[dict]:
    """The prompt-stage feeds of a few prompts (point, points, box, box + point) on the bundled sample."""
    predictor = SamPredictor(model_dir, backend="onnxruntime")
    predictor.set_image(SAMPLE)
    captured: list[dict] = []
    session = predictor.decoder.per_prompt
    run = session.run

    def capture(names, feeds, *args, **kwargs):
        captured.append(dict(feeds))
        return run(names, feeds, *args, **kwargs)

    session.run = capture
    height, width = predictor.image_embedding.original_size
    predictor.predict([[width * 0.4, height * 0.5]], [1])
    predictor.predict([[width * 0.3, height * 0.3], [width * 0.6, height * 0.6]], [1, 0])
    predictor.predict(box=[width * 0.2, height * 0.2, width * 0.7, height * 0.8])
    predictor.predict([[width * 0.5, height * 0.5]], [1], box=[width * 0.1, height * 0.1, width * 0.9, height * 0.9])
    return captured


def largest_difference(old: onnx.ModelProto, new: onnx.ModelProto, feeds: list[dict]) -> float:
    import onnxruntime as ort

    sessions = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]) for m in (old, new)]
    largest = 0.0
    for feed in feeds:
        before, after = (session.run(None, feed) for session in sessions)
        largest = max([largest, *(float(np.abs(a - b).max()) for a, b in zip(before, after))])
    return largest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graph", type=Path, help="a <model>.decoder_prompt.<precision>.onnx file")
    args = parser.parse_args(argv)
    if ".decoder_prompt." not in args.graph.name or args.graph.suffix != ".onnx":
        parser.error(f"expected a <model>.decoder_prompt.<precision>.onnx file; got {args.graph}")
    old = onnx.load(str(args.graph))
    new, count = flushed(old)
    if count == 0:
        print(f"{args.graph}: already flushes its attention weights; left as it is")
        return 0
    difference = largest_difference(old, new, prompt_feeds(args.graph.parent))
    if difference > TOLERANCE:
        print(f"{args.graph}: outputs moved by {difference:.3g} (> {TOLERANCE}); not written", file=sys.stderr)
        return 1
    with atomic_output(args.graph, suffix=".onnx") as temp:
        onnx.save(new, str(temp))
    print(f"{args.graph}: {count} softmax outputs flushed; largest output change {difference:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
