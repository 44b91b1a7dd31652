"""Find a model's graphs in a directory: ``<model>.<part>.<precision>.<onnx|xml>`` (docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sam_edge.runtime.backend_choice import choice_for_this_cpu
from sam_edge.runtime.backends import BACKENDS
from sam_edge.runtime.errors import InvalidInputError, ModelFileError
from sam_edge.runtime.graph_file import PRECISIONS, GraphFile, find_graphs
from sam_edge.runtime.interface import SAM2_PARTS


@dataclass(frozen=True)
class ModelFiles:
    """The graphs a predictor runs, and the backend that runs them.

    The decoder comes as one graph (``decoder``), as an image stage + prompt stage (the fast path,
    ``decoder_image`` + ``decoder_prompt``), or both; at least one of the two layouts is present. In a
    SAM 2 directory ``encoder`` and ``decoder`` are its ``sam2_encoder`` and ``sam2_decoder`` graphs.
    """

    encoder: Path | None  # None when opened without the encoder (find_model_files(with_encoder=False))
    decoder: Path | None
    decoder_backend: str  # the engine that runs the decoder graphs
    decoder_image: Path | None = None
    decoder_prompt: Path | None = None
    encoder_backend: str | None = None  # the engine that runs the encoder; None only without an encoder

    @property
    def split(self) -> bool:
        return self.decoder_image is not None and self.decoder_prompt is not None


def find_model_files(
    model_dir: str | Path, backend: str | None = None, precision: str | None = None, with_encoder: bool = True
) -> ModelFiles:
    """Pick the encoder (of ``precision``) and decoder (same precision if present, else fp32).

    ``precision`` None takes the encoder precision the directory holds (a `sam-edge quantize` output
    holds one: int8 or fp16), fp32 when it holds several. ``backend`` None takes, per part, the engine
    that ``<model>.backends.json`` measured faster on this CPU (runtime/backend_choice.py), else
    onnxruntime graphs, else OpenVINO IR (with a one-line ``SamEdgeNote`` when the record knows other
    CPUs only). ``with_encoder`` False picks the decoder graphs only (``encoder`` is None), so a
    directory that holds no encoder, e.g. a decoder-only copy on the machine that decodes, is enough.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise _not_a_model_dir(model_dir)
    if precision is not None and precision not in PRECISIONS:
        raise InvalidInputError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if backend is not None and backend not in BACKENDS:
        raise InvalidInputError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    precision = precision or _present_precision(model_dir, backend)
    choice = None if backend is not None else choice_for_this_cpu(model_dir, _engine_options(model_dir, precision))
    encoder = encoder_backend = None
    chosen = backend
    if with_encoder:
        candidates = _encoder_backends(model_dir, backend, precision)
        chosen = encoder_backend = candidates[0]
        if choice is not None and choice.preferred("encoder") in candidates:
            encoder_backend = choice.preferred("encoder")
        encoder = _single(model_dir, "encoder", precision, encoder_backend)
    chosen = chosen or _first_decoder_backend(model_dir)
    if choice is not None and _has_decoder(model_dir, choice.preferred("decoder")):
        chosen = choice.preferred("decoder")
    decoder = _decoder_part(model_dir, "decoder", precision, chosen)
    image_stage, prompt_stage = (
        _decoder_part(model_dir, part, precision, chosen) for part in ("decoder_image", "decoder_prompt")
    )
    if image_stage is None or prompt_stage is None:  # half a split decoder is no decoder
        image_stage = prompt_stage = None
        if decoder is None:
            decoder = _single(model_dir, "decoder", "fp32", chosen)  # raises, naming the missing graph
    return ModelFiles(encoder, decoder, chosen, image_stage, prompt_stage, encoder_backend)


def _encoder_backends(model_dir: Path, backend: str | None, precision: str) -> list[str]:
    """``[backend]``, else the engines that have a ``precision`` encoder graph here (raises when none has)."""
    candidates = [backend] if backend else [b for b in BACKENDS if _graphs(model_dir, "encoder", precision, b)]
    if not candidates:
        present = sorted(p.name for p in model_dir.iterdir() if p.suffix in (".onnx", ".xml"))
        part = _part_of_role(model_dir, "encoder")
        raise ModelFileError(
            f"{model_dir} has no {precision} encoder graph (*.{part}.{precision}.onnx or .xml); found: "
            f"{present or 'no graphs'}"
        )
    return candidates


def _engine_options(model_dir: Path, precision: str) -> list[str]:
    """The engines that could run some part here: a choice exists when there are two."""
    encoders = [b for b in BACKENDS if _graphs(model_dir, "encoder", precision, b)]
    decoders = [b for b in BACKENDS if _has_decoder(model_dir, b)]
    return max(encoders, decoders, key=len)


def _first_decoder_backend(model_dir: Path) -> str:
    """The first engine with a decoder graph (fp32) in the directory; the first engine when none has one."""
    return next((b for b in BACKENDS if _has_decoder(model_dir, b)), BACKENDS[0])


def _has_decoder(model_dir: Path, backend: str) -> bool:
    return any(_graphs(model_dir, part, "fp32", backend) for part in ("decoder", "decoder_prompt"))


def _present_precision(model_dir: Path, backend: str | None) -> str:
    backends = [backend] if backend else list(BACKENDS)
    present = [p for p in PRECISIONS if any(_graphs(model_dir, "encoder", p, b) for b in backends)]
    return present[0] if len(present) == 1 else "fp32"


def _decoder_part(model_dir: Path, part: str, precision: str, backend: str) -> Path | None:
    """The ``part`` graph in ``precision`` if present, else in fp32, else None."""
    for candidate in dict.fromkeys((precision, "fp32")):
        if _graphs(model_dir, part, candidate, backend):
            return _single(model_dir, part, candidate, backend)
    return None


def _graphs(model_dir: Path, part: str, precision: str, backend: str) -> list[Path]:
    return find_graphs(model_dir, _part_of_role(model_dir, part), precision, backend)


def _part_of_role(model_dir: Path, role: str) -> str:
    """The graph part that plays ``role`` ("encoder", "decoder", "decoder_image", ...) in this directory:
    itself, or in a directory of SAM 2 graphs its SAM 2 part (SAM2_PARTS; no other role has one)."""
    if not any(find_graphs(model_dir, part) for part in SAM2_PARTS.values()):
        return role
    return SAM2_PARTS.get(role, f"sam2 has no {role}")


def _single(model_dir: Path, part: str, precision: str, backend: str) -> Path:
    found = _graphs(model_dir, part, precision, backend)
    part = _part_of_role(model_dir, part)
    pattern = GraphFile("<model>", part, precision, backend).name
    if not found:
        raise ModelFileError(f"{model_dir} is missing the {part} graph {pattern} for {backend}; re-export the model")
    if len(found) > 1:
        raise ModelFileError(
            f"{model_dir} holds several {pattern} files ({', '.join(p.name for p in found)}); keep one model per "
            "directory"
        )
    return found[0]


def _not_a_model_dir(path: Path) -> ModelFileError:
    """A missing path, or a file (often one graph of the model) where its directory belongs."""
    if not path.exists():
        return ModelFileError(f"model directory {path} does not exist; export one with `sam-edge export`")
    return ModelFileError(
        f"{path} is a file, not a model directory; expected the directory `sam-edge export` writes "
        "(<model>.encoder.<precision>.onnx or .xml and its decoder graphs)"
    )
