"""Open the graphs a SamPredictor runs, and check that each one is the part of SAM its role needs.

A predictor runs an encoder (optional: embeddings can come from elsewhere) and a decoder, either one
full graph or the split pair (image stage + prompt stage); a SAM 2 model has its own encoder and one
decoder graph (``sam2_encoder``, ``sam2_decoder``: runtime/sam2_decoder.py). They come from a model directory (or a
bundled model), or from explicit ``encoder=`` / ``decoder=`` files. Each graph's metadata names its
part (runtime/metadata.py PARTS); a graph in the wrong role is refused here, at construction, with a
message naming what it is and what is accepted, instead of failing inside the engine at predict time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sam_edge.runtime.backends import Backend, open_backend
from sam_edge.runtime.decoders import FullDecoder, SplitDecoder
from sam_edge.runtime.default_model import find_model_dir
from sam_edge.runtime.errors import InvalidInputError, ModelFileError
from sam_edge.runtime.interface import SAM2_DECODER, SAM2_DECODER_IMAGE, SAM2_DECODER_PROMPT, SAM2_ENCODER
from sam_edge.runtime.metadata import check_same_model
from sam_edge.runtime.model_dir import ModelFiles, find_model_files
from sam_edge.runtime.sam2_decoder import Sam2Decoder, Sam2SplitDecoder

PART_NAMES = {
    "encoder": "an encoder graph",
    "decoder": "a full decoder graph",
    "decoder_official": "a decoder_official graph (SAM's own ONNX export, with orig_im_size)",
    "decoder_image": "a decoder_image graph (the image stage of a split decoder)",
    "decoder_prompt": "a decoder_prompt graph (the prompt stage of a split decoder)",
    "sam2_encoder": "a SAM 2 encoder graph",
    "sam2_decoder": "a SAM 2 decoder graph",
    "sam2_decoder_image": "a sam2_decoder_image graph (the image stage of SAM 2's split decoder)",
    "sam2_decoder_prompt": "a sam2_decoder_prompt graph (the prompt stage of SAM 2's split decoder)",
}
_SPLIT_HINT = (
    "a split decoder opens from its model directory: SamPredictor(DIR) or SamPredictor(DIR, with_encoder=False)"
)
PART_HINTS = {
    "encoder": "pass it as encoder=",
    "decoder": "pass it as decoder=",
    "decoder_official": "export the decoder the runtime runs with `sam-edge export --decoder full`",
    "decoder_image": _SPLIT_HINT,
    "decoder_prompt": _SPLIT_HINT,
    "sam2_encoder": "pass it as encoder=",
    "sam2_decoder": "pass it as decoder=",
    "sam2_decoder_image": _SPLIT_HINT,
    "sam2_decoder_prompt": _SPLIT_HINT,
}


@dataclass(frozen=True)
class PredictorGraphs:
    """The opened graphs: ``encoder`` None when the predictor only decodes given embeddings."""

    encoder: Backend | None
    decoder: FullDecoder | SplitDecoder | Sam2Decoder | Sam2SplitDecoder


def open_predictor_graphs(
    model,
    encoder,
    decoder,
    *,
    with_encoder: bool,
    backend: str | None,
    threads: int | None,
    precision: str | None,
    split_decoder: bool | None,
    spin_wait: bool = True,
) -> PredictorGraphs:
    """Open what SamPredictor's arguments name (see SamPredictor.__init__), checking every graph's part."""
    if not with_encoder and encoder is not None:
        raise InvalidInputError("with_encoder=False opens no encoder, yet encoder= was given; pass one of the two")
    files = None
    if model is not None or (encoder is None and decoder is None):  # nothing named: the bundled default model
        files = find_model_files(
            find_model_dir(model), backend, precision, with_encoder=with_encoder and encoder is None
        )
    graph_decoder = _open_decoder(files, decoder, backend, threads, split_decoder, spin_wait)
    graph_encoder = None
    if encoder is not None:
        graph_encoder = require_encoder(
            open_backend(encoder, backend, threads, spinning=False, lean_memory=True), keyword="encoder"
        )
    elif files is not None and files.encoder is not None:
        engine = files.encoder_backend
        graph_encoder = require_encoder(open_backend(files.encoder, engine, threads, spinning=False, lean_memory=True))
    if graph_encoder is not None:
        check_same_model(graph_encoder.metadata, graph_decoder.metadata, "the encoder and decoder graphs")
    return PredictorGraphs(graph_encoder, graph_decoder)


def require_part(backend: Backend, part: str, keyword: str | None = None) -> Backend:
    """``backend`` if its metadata says it is ``part``; else InvalidInputError for a ``keyword=`` argument,
    ModelFileError for a graph found in a model directory (a renamed file)."""
    actual = backend.metadata.part
    if actual == part:
        return backend
    name = Path(backend.path).name
    if keyword is None:
        raise ModelFileError(
            f"{backend.path} is named as {PART_NAMES[part]} but its metadata says it is "
            f"{PART_NAMES.get(actual, actual)}; re-export the model with `sam-edge export`"
        )
    raise InvalidInputError(
        f"{keyword}={name} is {PART_NAMES.get(actual, actual)}; {keyword}= accepts {PART_NAMES[part]} "
        f"(<model>.{part}.<precision>.onnx or .xml); {PART_HINTS.get(actual, 're-export the model')}"
    )


def require_encoder(backend: Backend, keyword: str | None = None) -> Backend:
    """``backend`` if it is an encoder graph, SAM's or SAM 2's (else as ``require_part``)."""
    return backend if backend.metadata.part == SAM2_ENCODER.part else require_part(backend, "encoder", keyword)


def full_decoder(backend: Backend, keyword: str | None = None) -> FullDecoder | Sam2Decoder:
    """A one-graph decoder by its metadata part: SAM 2's (Sam2Decoder) or SAM's (FullDecoder, checked)."""
    if backend.metadata.part == SAM2_DECODER.part:
        return Sam2Decoder(backend)
    return FullDecoder(require_part(backend, "decoder", keyword=keyword))


def _open_decoder(files: ModelFiles | None, decoder, backend, threads, split_decoder, spin_wait: bool = True):
    """An explicit ``decoder`` graph, else the directory's (``files``) split or full decoder; ``spin_wait``
    for the graph that runs per prompt (SamPredictor.__init__)."""
    if decoder is not None or files is None:
        if decoder is None:
            raise ModelFileError("no decoder graph: pass a model directory (or a bundled model name) or decoder=PATH")
        if split_decoder:
            raise InvalidInputError("split_decoder=True needs a model directory with the image and prompt stage graphs")
        return full_decoder(open_backend(decoder, backend, threads, spinning=spin_wait), keyword="decoder")
    model_dir = _directory_of(files)
    if split_decoder and not files.split:
        raise ModelFileError(
            f"{model_dir} has no split decoder (*.decoder_image.* and *.decoder_prompt.*); "
            "re-export with `sam-edge export --decoder split` or `both`"
        )
    if files.split and split_decoder is not False:
        image_stage = open_backend(files.decoder_image, files.decoder_backend, threads, spinning=False)
        prompt_stage = open_backend(files.decoder_prompt, files.decoder_backend, threads, spinning=spin_wait)
        if prompt_stage.metadata.part == SAM2_DECODER_PROMPT.part:
            return Sam2SplitDecoder(
                require_part(image_stage, SAM2_DECODER_IMAGE.part), require_part(prompt_stage, SAM2_DECODER_PROMPT.part)
            )
        return SplitDecoder(require_part(image_stage, "decoder_image"), require_part(prompt_stage, "decoder_prompt"))
    if files.decoder is None:
        raise ModelFileError(f"{model_dir} has only the split decoder; pass split_decoder=None or True")
    return full_decoder(open_backend(files.decoder, files.decoder_backend, threads, spinning=spin_wait))


def _directory_of(files: ModelFiles) -> Path:
    return next(path for path in (files.decoder, files.decoder_prompt) if path is not None).parent
