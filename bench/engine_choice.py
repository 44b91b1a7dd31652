"""Measure which engine runs each part of a model faster on this machine (``<model>.backends.json``).

The public path is timed on every engine the directory has fp32 graphs for: ``SamPredictor.encode``
for the encoder and ``predict`` with one point for the decoder. ``sam-edge export --format both``
calls it once; ``sam-edge backends MODEL_DIR`` re-measures on another machine. It sits above the
predictor it times; the runtime only reads the record (runtime/backend_choice.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from sam_edge.bench.timing import median_ms
from sam_edge.runtime.backend_choice import BackendChoice, engines_with_fp32_encoder
from sam_edge.runtime.backends import resolve_threads
from sam_edge.runtime.cpu import cpu_model
from sam_edge.runtime.predictor import SamPredictor


def measure_backends(
    model_dir: Path, rounds: int = 3, threads: int | None = None, progress: Callable[[str], None] = lambda message: None
) -> BackendChoice:
    """Median ms of encode (``rounds`` runs) and of 1-point predict (max(rounds, 10)) per engine."""
    threads = resolve_threads(threads)
    rgb = np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    point = np.array([[500.0, 400.0]], np.float32), np.array([1.0], np.float32)
    encoder_ms, decoder_ms = {}, {}
    for backend in engines_with_fp32_encoder(model_dir):
        progress(f"  timing {backend}: encoder and 1-point predict ({rounds} rounds each)")
        predictor = SamPredictor(model_dir, backend=backend, threads=threads, precision="fp32")
        encoder_ms[backend] = median_ms(lambda p=predictor: p.encode(rgb), rounds)
        predictor.set_image_embedding(predictor.encode(rgb))
        decoder_ms[backend] = median_ms(lambda p=predictor: p.predict(*point), max(rounds, 10))
    return BackendChoice(encoder_ms, decoder_ms, threads, cpu_model())
