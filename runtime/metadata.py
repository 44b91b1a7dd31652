"""The metadata record every sam-edge graph carries, so the runtime configures itself from the artifact.

Stored as JSON under one key: ONNX ``metadata_props["sam_edge"]`` and OpenVINO ``rt_info["sam_edge"]``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from sam_edge.runtime.errors import ModelFileError, ModelMismatchError

METADATA_KEY = "sam_edge"
FORMAT_VERSION = 1
PARTS = ("encoder", "decoder", "decoder_official", "decoder_image", "decoder_prompt")


@dataclass(frozen=True)
class GraphMetadata:
    """What a graph is and how to feed it.

    ``model_id`` names the weights (model type + checkpoint hash or random seed): an encoder and a
    decoder, or an embedding and a decoder, work together only when their model_id are equal.
    """

    model_type: str
    model_id: str
    part: str
    image_size: int = 1024
    embedding_shape: tuple[int, ...] = (1, 256, 64, 64)
    pixel_mean: tuple[float, ...] = (123.675, 116.28, 103.53)
    pixel_std: tuple[float, ...] = (58.395, 57.12, 57.375)
    normalization_in_graph: bool = False
    precision: str = "fp32"
    recipe: str = "none"
    opset: int = 17
    exporter: str = ""
    checkpoint_sha256: str = ""
    spec: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str, source: str) -> "GraphMetadata":
        """Parse the record; ``source`` names the file in error messages."""
        try:
            record = json.loads(text)
            known = {f.name for f in dataclasses.fields(GraphMetadata)}
            record = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items() if k in known}
            metadata = GraphMetadata(**record)
        except (json.JSONDecodeError, TypeError) as error:
            raise ModelFileError(f"{source}: unreadable sam_edge metadata ({error}); re-export the model with sam-edge export") from None
        if metadata.part not in PARTS:
            raise ModelFileError(f"{source}: metadata part {metadata.part!r} is not one of {PARTS}")
        return metadata


def check_same_model(first: GraphMetadata, second: GraphMetadata, what: str) -> None:
    """Refuse to combine artifacts of different weights (e.g. a vit_b encoder with a vit_t decoder)."""
    if first.model_id != second.model_id:
        raise ModelMismatchError(
            f"{what} come from different models ({first.model_id} vs {second.model_id}); "
            "use an encoder, decoder and embeddings exported from the same checkpoint"
        )
