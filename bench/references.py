"""Load the references a benchmark compares with, on the same weights as the runtime model.

- ``torch``: PyTorch eager over our modeling (``TorchSamPredictor``; ``TorchSam2Predictor`` for SAM 2,
  which reproduces the official ``SAM2ImagePredictor`` on golden files). Weights come from ``--checkpoint``,
  or, for a model exported with seeded random weights (model_id ``<type>-random-seed<N>``), are rebuilt
  from the spec stored in the graph's metadata. torch is imported only here, lazily.
- ``official_onnx``: SAM's own ONNX decoder interface (``<model>.decoder_official.fp32.onnx`` next to the
  decoder, written by ``sam-edge export --official-decoder``) in onnxruntime.

- ``official_package``: Meta's own package on the same weights, when it is installed (both need
  torchvision): ``segment-anything`` for SAM (bench/official_package.py), ``sam2``'s SAM2ImagePredictor
  for SAM 2 (bench/official_sam2.py).

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
    """A TorchSamPredictor (TorchSam2Predictor for SAM 2) on the weights the runtime graphs came from."""
    try:
        import torch
    except ImportError:
        raise ReferenceSkipped("torch is not installed (pip install 'sam-edge[export]')") from None
    from sam_edge.export.api import load_model

    torch.set_num_threads(threads)
    match = RANDOM_ID.search(metadata.model_id)
    try:
        if checkpoint is not None:
            model = load_model(checkpoint, metadata.model_type)
        elif match and metadata.spec:
            model = load_model(model_type=_spec_of(metadata), random_seed=int(match.group(1)))
        else:
            raise ReferenceSkipped(
                f"no PyTorch weights for {metadata.model_id}: pass --checkpoint FILE (the checkpoint it was "
                "exported from)"
            )
    except SamEdgeError as error:
        raise ReferenceSkipped(f"cannot build the PyTorch model: {error}") from None
    if model.model_id != metadata.model_id:
        raise ReferenceSkipped(f"--checkpoint is {model.model_id}, but the graphs are {metadata.model_id}")
    if is_sam2_model(metadata):
        from sam_edge.export.sam2_predictor import TorchSam2Predictor

        return TorchSam2Predictor(model.sam)
    from sam_edge.export.torch_predictor import TorchSamPredictor

    return TorchSamPredictor(model.sam)


def is_sam2_model(metadata: GraphMetadata) -> bool:
    """Whether the graphs are SAM 2's (their parts are sam2_encoder / sam2_decoder)."""
    return metadata.part.startswith("sam2_")


def _spec_of(metadata: GraphMetadata):
    """The model spec stored in a graph's metadata (SAM's or SAM 2's)."""
    if is_sam2_model(metadata):
        from sam_edge.export.sam2_specs import Sam2ModelSpec

        return Sam2ModelSpec.from_dict(metadata.spec)
    from sam_edge.export.specs import ModelSpec

    return ModelSpec.from_dict(metadata.spec)


SAM2_NO_OFFICIAL_ONNX = "SAM 2 has no official ONNX decoder interface (segment_anything's is SAM's)"


def _not_for_sam2(reason: str):
    def skip():
        raise ReferenceSkipped(reason)

    return skip


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
        """segment-anything's SamPredictor for SAM, sam2's SAM2ImagePredictor for SAM 2."""
        from sam_edge.bench.official_package import load_official_package
        from sam_edge.bench.official_sam2 import load_official_sam2

        torch_predictor = loaded.get("torch") or load_torch_reference(predictor.metadata, threads, checkpoint)
        load = load_official_sam2 if is_sam2_model(predictor.metadata) else load_official_package
        return load(predictor.metadata, threads, torch_predictor.model)

    loaders = {
        "torch": lambda: load_torch_reference(predictor.metadata, threads, checkpoint),
        "official_onnx": lambda: load_official_reference(Path(predictor.decoder.path), predictor.metadata, threads),
        "official_package": official_package,
    }
    if is_sam2_model(predictor.metadata):
        loaders["official_onnx"] = _not_for_sam2(SAM2_NO_OFFICIAL_ONNX)
    for name, loader in loaders.items():
        if name not in wanted:
            continue
        try:
            loaded[name] = loader()
        except ReferenceSkipped as reason:
            skipped[name] = str(reason)
    return loaded, skipped
