"""The record of which engine runs each part of a model fastest, kept beside the graphs.

``<model>.backends.json`` is measured by ``sam_edge.bench.engine_choice`` (at ``sam-edge export
--format both`` and by ``sam-edge backends``); when no backend is asked for, ``find_model_files`` runs
the encoder and the decoder each on its faster engine (the embedding between them is plain numpy).
The record names the machine it was measured on, since the faster engine differs between CPUs. This
module only reads and writes it: loading a model never imports measurement code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from sam_edge.runtime.atomic_write import atomic_output
from sam_edge.runtime.backends import BACKENDS
from sam_edge.runtime.graph_file import find_graphs

CHOICE_SUFFIX = ".backends.json"
CHOICE_PARTS = ("encoder", "decoder")  # the engine is chosen per part: the encoder, and the decoder graphs


@dataclass(frozen=True)
class BackendChoice:
    """Median ms per part and backend, and the faster backend per part."""

    encoder_ms: dict[str, float]
    decoder_ms: dict[str, float]
    threads: int
    machine: str

    def preferred(self, part: str) -> str:
        times = self.encoder_ms if part == "encoder" else self.decoder_ms
        return min(times, key=times.get)

    def to_json(self) -> str:
        record = asdict(self) | {"preferred": {part: self.preferred(part) for part in CHOICE_PARTS}}
        return json.dumps(record, indent=2, sort_keys=True)


def choice_path(model_dir: Path) -> Path | None:
    """The directory's ``<model>.backends.json``, if it has exactly one."""
    found = sorted(Path(model_dir).glob(f"*{CHOICE_SUFFIX}"))
    return found[0] if len(found) == 1 else None


def load_backend_choice(model_dir: Path) -> BackendChoice | None:
    """The recorded choice, or None when there is none or it cannot be read (then the default order applies)."""
    path = choice_path(model_dir)
    if path is None:
        return None
    try:
        record = json.loads(path.read_text())
        choice = BackendChoice(record["encoder_ms"], record["decoder_ms"], record["threads"], record["machine"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    known = set(BACKENDS)
    return (
        choice
        if set(choice.encoder_ms) <= known
        and set(choice.decoder_ms) <= known
        and choice.encoder_ms
        and choice.decoder_ms
        else None
    )


def engines_with_fp32_encoder(model_dir: Path) -> list[str]:
    """The backends the directory holds an fp32 encoder graph for, in BACKENDS order."""
    return [backend for backend in BACKENDS if find_graphs(model_dir, "encoder", "fp32", backend)]


def write_backend_choice(choice: BackendChoice, model_dir: Path, model_name: str) -> Path:
    path = Path(model_dir) / f"{model_name}{CHOICE_SUFFIX}"
    with atomic_output(path) as temporary:
        temporary.write_text(choice.to_json())
    return path
