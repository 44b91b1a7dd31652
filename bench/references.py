"""Load the references a benchmark compares with, on the same weights as the runtime model.

- ``torch``: PyTorch eager over our modeling (``TorchSamPredictor``). Weights come from ``--checkpoint``,
  or, for a model exported with seeded random weights (model_id ``<type>-random-seed<N>``), are rebuilt
  from the spec stored in the graph's metadata. torch is imported only here, lazily.
- ``official_onnx``: SAM's own ONNX decoder interface (``<model>.decoder_official.fp32.onnx`` next to the
  decoder, written by ``sam-edge export --official-decoder``) in onnxruntime.

- ``official_package``: Meta's ``segment-anything`` package (bench/official_package.py) on the same
  weights, when it is installed (it needs torchvision).

A reference that cannot be loaded is skipped with a reason, never an error: all are optional.
"""

from __future__ import annotations

import re
from pathlib import Path

from sam_edge.runtime.errors import SamEdgeError
from sam_edge.runtime.metadata import GraphMetadata

RANDOM_ID = re.compile(r"-random-seed(\d+)$")


class ReferenceSkipped(Exception):
    """A reference is unavailable; the message says why (it is reported, not raised to the user)."""


def load_torch_reference(metadata: GraphMetadata, threads: int, checkpoint: str | Path | None = None):
    """A TorchSamPredictor on the weights the runtime graphs were exported from."""
    try:
        import torch
    except ImportError:
        raise ReferenceSkipped("torch is not installed (pip install 'sam-edge[export]')") from None
    from sam_edge.export.api import load_model
    from sam_edge.export.specs import ModelSpec
    from sam_edge.export.torch_predictor import TorchSamPredictor

    torch.set_num_threads(threads)
    match = RANDOM_ID.search(metadata.model_id)
    try:
        if checkpoint is not None:
            model = load_model(checkpoint, metadata.model_type)
        elif match and metadata.spec:
            model = load_model(model_type=ModelSpec.from_dict(metadata.spec), random_seed=int(match.group(1)))
        else:
            raise ReferenceSkipped(
                f"no PyTorch weights for {metadata.model_id}: pass --checkpoint FILE (the checkpoint it was "
                "exported from)"
            )
    except SamEdgeError as error:
        raise ReferenceSkipped(f"cannot build the PyTorch model: {error}") from None
    if model.model_id != metadata.model_id:
        raise ReferenceSkipped(f"--checkpoint is {model.model_id}, but the graphs are {metadata.model_id}")
    return TorchSamPredictor(model.sam)


def find_official_decoder(decoder_path: Path) -> Path:
    """``<model>.decoder_official.fp32.onnx`` beside the runtime's decoder graph."""
    found = sorted(decoder_path.parent.glob("*.decoder_official.fp32.onnx"))
    if not found:
        raise ReferenceSkipped(
            f"no *.decoder_official.fp32.onnx in {decoder_path.parent} "
            "(export the model with `sam-edge export --official-decoder`)"
        )
    return found[0]


def load_official_reference(decoder_path: Path, metadata: GraphMetadata, threads: int):
    """An onnxruntime session of the official-interface decoder, checked to hold the same weights."""
    from sam_edge.runtime.backends import OnnxRuntimeBackend

    path = find_official_decoder(decoder_path)
    try:
        backend = OnnxRuntimeBackend(path, threads)
    except SamEdgeError as error:
        raise ReferenceSkipped(str(error)) from None
    if backend.metadata.model_id != metadata.model_id:
        raise ReferenceSkipped(f"{path.name} is {backend.metadata.model_id}, but the decoder is {metadata.model_id}")
    return backend.session


def load_references(predictor, threads: int, wanted: set[str], checkpoint=None) -> tuple[dict, dict]:
    """(loaded {name: object}, skipped {name: reason}) for the references in ``wanted``."""
    loaded, skipped = {}, {}

    def official_package():
        from sam_edge.bench.official_package import load_official_package

        torch_predictor = loaded.get("torch") or load_torch_reference(predictor.metadata, threads, checkpoint)
        return load_official_package(predictor.metadata, threads, torch_predictor.model)

    loaders = {
        "torch": lambda: load_torch_reference(predictor.metadata, threads, checkpoint),
        "official_onnx": lambda: load_official_reference(Path(predictor.decoder.path), predictor.metadata, threads),
        "official_package": official_package,
    }
    for name, loader in loaders.items():
        if name not in wanted:
            continue
        try:
            loaded[name] = loader()
        except ReferenceSkipped as reason:
            skipped[name] = str(reason)
    return loaded, skipped
