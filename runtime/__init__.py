"""sam_edge.runtime: torch-free SAM inference (numpy + Pillow + onnxruntime / OpenVINO).

The public names load lazily (PEP 562): ``import sam_edge.runtime`` imports no engine, and
``from sam_edge.runtime import SamPredictor`` imports numpy and Pillow but still no engine;
onnxruntime or OpenVINO loads when the first graph is opened.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from sam_edge.runtime.automatic_mask_generator import SamAutomaticMaskGenerator
    from sam_edge.runtime.embedding import ImageEmbedding
    from sam_edge.runtime.errors import SamEdgeError
    from sam_edge.runtime.prediction import Prediction
    from sam_edge.runtime.predictor import SamPredictor

# public name -> the module that defines it
_LAZY_EXPORTS = {
    "SamPredictor": "sam_edge.runtime.predictor",
    "Prediction": "sam_edge.runtime.prediction",
    "ImageEmbedding": "sam_edge.runtime.embedding",
    "SamEdgeError": "sam_edge.runtime.errors",
    "SamAutomaticMaskGenerator": "sam_edge.runtime.automatic_mask_generator",
}

__all__ = ["SamPredictor", "Prediction", "ImageEmbedding", "SamEdgeError", "SamAutomaticMaskGenerator"]


def __getattr__(name: str):
    if name not in _LAZY_EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
