"""sam-edge: Segment Anything on CPUs. Export, quantize, run and benchmark SAM without a GPU.

The front door for users of Meta's ``segment_anything``::

    from sam_edge import SamPredictor

    predictor = SamPredictor()            # the bundled model; or a directory written by `sam-edge export`
    predictor.set_image("assets/sample_scene.png")
    masks, scores, logits = predictor.predict(point_coords=[[208, 185]], point_labels=[1])

Public names: ``SamPredictor``, ``Prediction``, ``ImageEmbedding``, ``SamAutomaticMaskGenerator``
(segment everything) and ``SamEdgeError`` (the base of every error sam-edge raises on purpose).
They load lazily (PEP 562), so ``import sam_edge`` imports neither torch nor onnx nor an
inference engine; onnxruntime or OpenVINO loads when a predictor opens
its first graph, and only the export tools import torch. docs/sam-users.md compares the API with
segment_anything's line by line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from sam_edge.runtime import ImageEmbedding, Prediction, SamAutomaticMaskGenerator, SamEdgeError, SamPredictor

__version__ = "0.1.0"

__all__ = ["SamPredictor", "Prediction", "ImageEmbedding", "SamEdgeError", "SamAutomaticMaskGenerator"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from sam_edge import runtime

    value = getattr(runtime, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
