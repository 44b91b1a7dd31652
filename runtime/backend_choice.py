"""Which backend runs each part of a model fastest on this machine, measured once and kept beside the graphs.

``sam-edge export --format both`` times the public path on both engines (``SamPredictor.encode`` for
the encoder, ``predict`` with one point for the decoder) and writes ``<model>.backends.json``; when no
backend is asked for, ``find_model_files`` then runs the encoder and the decoder each on its faster
engine (the embedding between them is plain numpy). The file records the machine it was measured on,
since the faster engine differs between CPUs; ``sam-edge backends MODEL_DIR`` re-measures it on another one.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from sam_edge.runtime.atomic_write import atomic_output
from sam_edge.runtime.backends import BACKENDS, EXTENSIONS, resolve_threads
from sam_edge.runtime.cpu import cpu_model

CHOICE_SUFFIX = ".backends.json"
PARTS = ("encoder", "decoder")


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
        record = asdict(self) | {"preferred": {part: self.preferred(part) for part in PARTS}}
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
    return choice if set(choice.encoder_ms) <= known and set(choice.decoder_ms) <= known and choice.encoder_ms and choice.decoder_ms else None


def engines_with_fp32_encoder(model_dir: Path) -> list[str]:
    """The backends the directory holds an fp32 encoder graph for, in BACKENDS order."""
    return [backend for backend in BACKENDS if any(Path(model_dir).glob(f"*.encoder.fp32{EXTENSIONS[backend]}"))]


def measure_backends(model_dir: Path, rounds: int = 3, threads: int | None = None,
                     progress: Callable[[str], None] = lambda message: None) -> BackendChoice:
    """Time encode and 1-point predict on every backend the directory has graphs for (fp32)."""
    from sam_edge.runtime.predictor import SamPredictor

    threads = resolve_threads(threads)
    rgb = np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    point = np.array([[500.0, 400.0]], np.float32), np.array([1.0], np.float32)
    encoder_ms, decoder_ms = {}, {}
    for backend in engines_with_fp32_encoder(model_dir):
        progress(f"  timing {backend}: encoder and 1-point predict ({rounds} rounds each)")
        predictor = SamPredictor(model_dir, backend=backend, threads=threads, precision="fp32")
        encoder_ms[backend] = _median_ms(lambda: predictor.encode(rgb), rounds)
        predictor.set_image_embedding(predictor.encode(rgb))
        decoder_ms[backend] = _median_ms(lambda: predictor.predict(*point), max(rounds, 10))
    return BackendChoice(encoder_ms, decoder_ms, threads, cpu_model())


def _median_ms(call: Callable[[], object], rounds: int, warmup: int = 2) -> float:
    for _ in range(warmup):  # onnxruntime's second call is still slow after a single warm-up
        call()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def write_backend_choice(choice: BackendChoice, model_dir: Path, model_name: str) -> Path:
    path = Path(model_dir) / f"{model_name}{CHOICE_SUFFIX}"
    with atomic_output(path) as temporary:
        temporary.write_text(choice.to_json())
    return path
