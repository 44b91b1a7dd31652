"""Measure which engine runs each part of a model faster on this machine (``<model>.backends.json``).

The public path is timed on every engine the directory has fp32 graphs for: ``SamPredictor.encode``
for the encoder and ``predict`` with one point for the decoder. ``sam-edge export --format both``
calls it once; ``sam-edge backends MODEL_DIR`` re-measures on another machine. It sits above the
predictor it times; the runtime only reads the record (runtime/backend_choice.py).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from sam_edge.bench.timing import median_ms
from sam_edge.runtime.backend_choice import (
    BackendChoice,
    engines_with_encoder,
    load_backend_choice,
    this_cpu,
    write_backend_choice,
)
from sam_edge.runtime.backends import resolve_threads
from sam_edge.runtime.default_model import bundled_model_dir
from sam_edge.runtime.errors import SamEdgeNote
from sam_edge.runtime.graph_file import GraphFile
from sam_edge.runtime.model_dir import find_model_files
from sam_edge.runtime.predictor import SamPredictor


def measure_backends(
    model_dir: Path,
    rounds: int = 3,
    threads: int | None = None,
    progress: Callable[[str], None] = lambda message: None,
    precision: str = "fp32",
) -> BackendChoice:
    """Median ms of encode (``rounds`` runs) and of 1-point predict (max(rounds, 10)) per engine that
    has a ``precision`` encoder here, as a measurement of this CPU (model name, ISA flags, threads)."""
    threads = resolve_threads(threads)
    rgb = np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    point = np.array([[500.0, 400.0]], np.float32), np.array([1.0], np.float32)
    encoder_ms, decoder_ms = {}, {}
    for backend in engines_with_encoder(model_dir, precision):
        progress(f"  timing {backend}: encoder and 1-point predict ({rounds} rounds each)")
        predictor = SamPredictor(model_dir, backend=backend, threads=threads, precision=precision)
        encoder_ms[backend] = median_ms(lambda p=predictor: p.encode(rgb), rounds)
        predictor.set_image_embedding(predictor.encode(rgb))
        decoder_ms[backend] = median_ms(lambda p=predictor: p.predict(*point), max(rounds, 10))
    machine, isa = this_cpu()
    return BackendChoice(encoder_ms, decoder_ms, threads, machine, isa, precision)


def ensure_measured_here(
    model_dir: Path, threads: int, progress: Callable[[str], None] = lambda message: None
) -> BackendChoice | None:
    """The running CPU's measurement of ``model_dir``, measured now (and recorded when the directory is
    writable) if its record has none and the directory offers two engines; None when there is no choice.

    ``sam-edge bench`` calls this before timing anything, so that the models it times (``--random``
    exports, exported and quantized directories) run on the engines chosen for this CPU, as segment,
    everything and serve then do. The bundled model is not measured here (its directory is the
    installed package): the runtime's note names ``sam-edge backends`` for it.
    """
    if Path(model_dir).resolve() == bundled_model_dir().resolve():
        return load_backend_choice(model_dir, threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamEdgeNote)  # not measured here yet: measuring it is what this does
        encoder = GraphFile.parse(find_model_files(model_dir).encoder)
    precision = encoder.precision
    if len(engines_with_encoder(model_dir, precision)) < 2:
        return None
    choice = load_backend_choice(model_dir, threads)
    if choice is not None and choice.threads == threads:
        return choice
    progress(f"  engines not measured on this CPU at {threads} threads: timing them first")
    choice = measure_backends(model_dir, threads=threads, progress=progress, precision=precision)
    if os.access(model_dir, os.W_OK):
        path = write_backend_choice(choice, model_dir, encoder.model)
        progress(
            f"  recorded in {path.name}: encoder {choice.preferred('encoder')}, decoder {choice.preferred('decoder')}"
        )
    else:
        progress(f"  {model_dir} is not writable: the choice is not recorded, and the bench runs the default order")
    return choice
