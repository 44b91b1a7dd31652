"""The front door: the names `from sam_edge import ...` gives, and their lazy loading."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import sam_edge
import sam_edge.runtime
from sam_edge.runtime.automatic_mask_generator import SamAutomaticMaskGenerator
from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.errors import SamEdgeError
from sam_edge.runtime.prediction import Prediction
from sam_edge.runtime.predictor import SamPredictor

PUBLIC = ["SamPredictor", "Prediction", "ImageEmbedding", "SamEdgeError", "SamAutomaticMaskGenerator"]
HEAVY = ("onnxruntime", "openvino", "torch", "onnx")

LOADED_AFTER = """
import json, sys
def heavy():
    return sorted({name.split(".")[0] for name in sys.modules} & {"onnxruntime", "openvino", "torch", "onnx"})
steps = {}
import sam_edge
steps["import sam_edge"] = heavy()
import sam_edge.runtime
steps["import sam_edge.runtime"] = heavy()
from sam_edge import SamPredictor, Prediction, ImageEmbedding, SamEdgeError, SamAutomaticMaskGenerator
steps["from sam_edge import the public names"] = heavy()
SamPredictor(backend="onnxruntime", threads=1)
steps["SamPredictor()"] = heavy()
print(json.dumps(steps))
"""


def test_importing_sam_edge_loads_no_engine_torch_or_onnx():
    result = subprocess.run([sys.executable, "-c", LOADED_AFTER], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "import sam_edge": [],
        "import sam_edge.runtime": [],
        "from sam_edge import the public names": [],
        "SamPredictor()": ["onnxruntime"],  # the check does see an engine once one is used
    }


def test_import_time_report_names_no_heavy_module():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sam_edge"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert "sam_edge" in imported
    assert not {name for name in imported if name.split(".")[0] in HEAVY}


def test_public_names_are_the_runtime_classes():
    assert sam_edge.__all__ == PUBLIC and sam_edge.runtime.__all__ == PUBLIC
    expected = {
        "SamPredictor": SamPredictor,
        "Prediction": Prediction,
        "ImageEmbedding": ImageEmbedding,
        "SamEdgeError": SamEdgeError,
        "SamAutomaticMaskGenerator": SamAutomaticMaskGenerator,
    }
    for name, value in expected.items():
        assert getattr(sam_edge, name) is value and getattr(sam_edge.runtime, name) is value
    assert set(PUBLIC) <= set(dir(sam_edge)) and set(PUBLIC) <= set(dir(sam_edge.runtime))
    from sam_edge.runtime.predictor import Prediction as from_predictor

    assert from_predictor is Prediction  # the old import path still works


@pytest.mark.parametrize("module", [sam_edge, sam_edge.runtime], ids=["sam_edge", "sam_edge.runtime"])
def test_unknown_name_is_a_plain_attribute_error(module):
    with pytest.raises(AttributeError, match=f"^module '{module.__name__}' has no attribute 'SamAutomaticMask'$"):
        module.SamAutomaticMask  # noqa: B018
