"""The metadata record every sam-edge graph carries, so the runtime configures itself from the artifact.

Stored as JSON under one key: ONNX ``metadata_props["sam_edge"]`` and OpenVINO ``rt_info["sam_edge"]``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from sam_edge.runtime.errors import ModelFileError, ModelMismatchError

METADATA_KEY = "sam_edge"
FORMAT_VERSION = 1
PARTS = (
    "encoder",
    "decoder",
    "decoder_official",
    "decoder_image",
    "decoder_prompt",
    "sam2_encoder",
    "sam2_decoder",
    "sam2_decoder_image",
    "sam2_decoder_prompt",
)
_TEXT_FIELDS = ("model_type", "model_id", "part", "precision", "recipe", "exporter", "checkpoint_sha256")
_COUNT_FIELDS = ("image_size", "opset", "format_version")  # integers >= 1
_REEXPORT = "re-export the model with sam-edge export"


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
        """Parse and check the record; ``source`` names the file in error messages (ModelFileError)."""
        try:
            record = json.loads(text)
        except (ValueError, RecursionError) as error:  # JSONDecodeError, a 5000-digit number, [[[[... nesting
            raise ModelFileError(f"{source}: unreadable sam_edge metadata ({str(error)[:120]}); {_REEXPORT}") from None
        if not isinstance(record, dict):
            got = type(record).__name__
            raise ModelFileError(f"{source}: sam_edge metadata must be a JSON object, got a {got}; {_REEXPORT}")
        known = {f.name for f in dataclasses.fields(GraphMetadata)}
        record = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items() if k in known}
        try:
            metadata = GraphMetadata(**record)
        except TypeError:  # a field without default is missing
            missing = [name for name in ("model_type", "model_id", "part") if name not in record]
            raise ModelFileError(f"{source}: sam_edge metadata lacks {', '.join(missing)}; {_REEXPORT}") from None
        malformed = _malformed_fields(metadata)
        if malformed:
            raise ModelFileError(f"{source}: sam_edge metadata has malformed {', '.join(malformed)}; {_REEXPORT}")
        if metadata.part not in PARTS:
            raise ModelFileError(f"{source}: metadata part {metadata.part[:40]!r} is not one of {PARTS}")
        return metadata


def _malformed_fields(metadata: GraphMetadata) -> list[str]:
    """Names of the fields whose value has the wrong type or range (the runtime computes with them)."""
    bad = [name for name in _TEXT_FIELDS if not isinstance(getattr(metadata, name), str)]
    bad += [name for name in _COUNT_FIELDS if not _is_number(getattr(metadata, name), integer=True, positive=True)]
    bad += [name for name in ("spec", "extra") if not isinstance(getattr(metadata, name), dict)]
    if not isinstance(metadata.normalization_in_graph, bool):
        bad.append("normalization_in_graph")
    for name, count, integer, positive in (
        ("embedding_shape", 4, True, True),
        ("pixel_mean", 3, False, False),
        ("pixel_std", 3, False, True),
    ):
        values = getattr(metadata, name)
        if not (
            isinstance(values, tuple)
            and len(values) == count
            and all(_is_number(value, integer, positive) for value in values)
        ):
            bad.append(name)
    return bad


def _is_number(value, integer: bool, positive: bool) -> bool:
    """A finite int (or float unless ``integer``), > 0 if ``positive``; bools are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        return False
    return math.isfinite(value) and (value > 0 or not positive)


def check_same_model(first: GraphMetadata, second: GraphMetadata, what: str) -> None:
    """Refuse to combine artifacts of different weights (e.g. a vit_b encoder with a vit_t decoder)."""
    if first.model_id != second.model_id:
        raise ModelMismatchError(
            f"{what} come from different models ({first.model_id} vs {second.model_id}); "
            "use an encoder, decoder and embeddings exported from the same checkpoint"
        )
