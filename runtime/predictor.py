"""SamPredictor for CPUs: encode an image once, then decode each prompt in milliseconds.

Same contract as segment_anything's SamPredictor: prompts in the ORIGINAL image frame (x, y pixels),
masks [C, H, W] bool, scores [C] float32, low-res logits [C, 256, 256] float32 to feed back as
``mask_input``. C = 3 with ``multimask_output`` (decoder tokens 1..3), else 1 (token 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from sam_edge.runtime.backends import Backend, open_backend
from sam_edge.runtime.decoders import FullDecoder, SplitDecoder
from sam_edge.runtime.embedding import EmbeddingCache, ImageEmbedding, image_key
from sam_edge.runtime.errors import InvalidInputError, ModelFileError, NoImageSetError
from sam_edge.runtime.heap import release_free_heap
from sam_edge.runtime.image_io import DEFAULT_MAX_PIXELS, load_image
from sam_edge.runtime.mask_stats import stability_score
from sam_edge.runtime.mask_upscale import MaskUpscaler
from sam_edge.runtime.metadata import GraphMetadata, check_same_model
from sam_edge.runtime.model_dir import ModelFiles, find_model_files
from sam_edge.runtime.prompts import build_decoder_feeds
from sam_edge.runtime.transforms import normalize_and_pad, preprocess_shape, resize_longest_side


@dataclass(frozen=True)
class Prediction:
    """Masks for one prompt (or [B, ...] for a batch). Unpacks like SamPredictor: masks, scores, logits.

    masks bool (or float32 logits with return_logits) [C, H, W] in the original frame (or the
    requested mask_size); scores float32 [C] (predicted IoU); low_res_logits float32 [C, 256, 256].
    ``stability_scores`` float32 [C] (IoU of the mask thresholded at -1 and +1, as SAM's automatic
    mask generator scores masks) is computed on first access, so callers who never read it never pay.
    """

    masks: np.ndarray
    scores: np.ndarray
    low_res_logits: np.ndarray
    upscaler: MaskUpscaler | None = field(default=None, repr=False, compare=False)

    def __iter__(self):
        return iter((self.masks, self.scores, self.low_res_logits))

    @cached_property
    def stability_scores(self) -> np.ndarray:
        if self.masks.dtype != np.bool_:
            return stability_score(self.masks).astype(np.float32)
        if self.upscaler is None:
            raise InvalidInputError("stability needs logits: this prediction holds boolean masks and no upscaler")
        return stability_score(self.upscaler.logits(self.low_res_logits)).astype(np.float32)

    def prompt(self, index: int) -> "Prediction":
        """Prompt ``index`` of a batched prediction, as a single-prompt Prediction."""
        return Prediction(self.masks[index], self.scores[index], self.low_res_logits[index], self.upscaler)


class SamPredictor:
    """A SAM model from an exported directory (or explicit encoder/decoder graphs) on the CPU.

    ``backend`` "onnxruntime" or "openvino" (default: from the files); ``threads`` defaults to the
    physical cores; ``cache_size`` images' embeddings are kept so re-setting an image is free.
    """

    def __init__(self, model_dir: str | Path | None = None, *, encoder: str | Path | None = None,
                 decoder: str | Path | None = None, backend: str | None = None, threads: int | None = None,
                 precision: str | None = None, cache_size: int = 8, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 split_decoder: bool | None = None) -> None:
        """``split_decoder``: None uses the image + prompt stage graphs when the directory has them
        (the fast path), True requires them, False runs the single decoder graph."""
        files = find_model_files(model_dir, backend, precision) if model_dir is not None else None
        self.decoder = _open_decoder(files, model_dir, decoder, backend, threads, split_decoder)
        if files is not None:
            encoder, backend = (encoder, files.backend) if encoder else (files.encoder, files.encoder_backend or files.backend)
        self.encoder: Backend | None = open_backend(encoder, backend, threads, spinning=False, lean_memory=True) if encoder is not None else None
        if self.encoder is not None:
            check_same_model(self.encoder.metadata, self.decoder.metadata, "the encoder and decoder graphs")
        self.max_pixels = max_pixels
        self.cache = EmbeddingCache(cache_size)
        self.reset_image()
        release_free_heap()  # what parsing and packing the graphs left behind (runtime/heap.py)

    @property
    def metadata(self) -> GraphMetadata:
        """The decoder's metadata record (model type, id, image size, precision, ...)."""
        return self.decoder.metadata

    def reset_image(self) -> None:
        """Forget the current image; predict() then raises until set_image / set_image_embedding."""
        self._embedding: ImageEmbedding | None = None
        self._upscalers: dict[tuple[int, int] | None, MaskUpscaler] = {}

    def set_image(self, image) -> ImageEmbedding:
        """Encode ``image`` (path, PIL image or array; see image_io.load_image), or reuse its cached embedding."""
        if self.encoder is None:
            raise ModelFileError("this predictor has no encoder graph; load an embedding with set_image_embedding")
        rgb = load_image(image, self.max_pixels)
        key = image_key(rgb, self.metadata.model_id)
        embedding = self.cache.get(key)
        if embedding is None:
            embedding = self.encode(rgb)
            self.cache.put(key, embedding)
        self.set_image_embedding(embedding)
        return embedding

    def encode(self, rgb: np.ndarray) -> ImageEmbedding:
        """Run the encoder on an HxWx3 uint8 RGB image (no caching)."""
        meta = self.encoder.metadata
        original_size = (int(rgb.shape[0]), int(rgb.shape[1]))
        resized = resize_longest_side(rgb, meta.image_size)
        height, width = resized.shape[:2]
        tensor = normalize_and_pad(resized, meta.image_size, meta.pixel_mean, meta.pixel_std)
        (embeddings,) = self.encoder.run(["image_embeddings"], {"image": tensor})
        del resized, tensor
        release_free_heap()  # the preprocessing and engine transients (runtime/heap.py)
        return ImageEmbedding(embeddings, original_size, (height, width), meta.model_id, meta.model_type)

    def set_image_embedding(self, embedding: ImageEmbedding) -> None:
        """Use a precomputed embedding (e.g. ImageEmbedding.load); refused if another model made it."""
        check_same_model(self.metadata, _as_metadata(embedding), "the embedding and the decoder")
        _check_embedding_fits(embedding, self.metadata)
        self._embedding = embedding
        self._upscalers = {}

    def get_image_embedding(self) -> ImageEmbedding:
        return self._require_image()

    def predict(self, point_coords=None, point_labels=None, box=None, mask_input=None,
                multimask_output: bool = True, return_logits: bool = False,
                mask_size: tuple[int, int] | None = None) -> Prediction:
        """One prompt: points [N, 2] + labels [N] (1 fg, 0 bg), box [4] (x0, y0, x1, y1), mask_input [1, 256, 256].

        ``mask_size`` (height, width), e.g. a display size, returns masks in that frame instead of
        the original image's (cheaper for large photos); prompts stay in the original frame.
        """
        return self.predict_batch(point_coords, point_labels, box, mask_input, multimask_output, return_logits,
                                  batched=False, mask_size=mask_size).prompt(0)

    def predict_batch(self, point_coords=None, point_labels=None, boxes=None, mask_input=None,
                      multimask_output: bool = True, return_logits: bool = False, batched: bool = True,
                      mask_size: tuple[int, int] | None = None) -> Prediction:
        """B prompts in one decoder call: points [B, N, 2] + labels [B, N] and/or boxes [B, 4].

        Returns masks [B, C, H, W], scores [B, C], low-res logits [B, C, 256, 256], stability [B, C].
        Only the C returned masks are upscaled (C = 3 with multimask_output, else 1).
        """
        embedding = self._require_image()
        feeds = build_decoder_feeds(embedding.original_size, embedding.input_size, point_coords, point_labels,
                                    boxes, mask_input, batched)
        scores, low_res = self.decoder.decode(embedding, feeds)
        tokens = slice(1, None) if multimask_output else slice(0, 1)
        scores, low_res = scores[:, tokens], np.ascontiguousarray(low_res[:, tokens])
        upscaler = self.mask_upscaler(mask_size)
        masks = upscaler.logits(low_res) if return_logits else upscaler.masks(low_res)
        return Prediction(masks, scores, low_res, upscaler)

    def mask_upscaler(self, mask_size: tuple[int, int] | None = None) -> MaskUpscaler:
        """The upscaler from low-res logits to the current image's frame (or ``mask_size``), built once."""
        embedding = self._require_image()
        try:
            key = None if mask_size is None else tuple(int(side) for side in mask_size)
        except (TypeError, ValueError):
            raise InvalidInputError(f"mask_size must be (height, width) in pixels; got {mask_size!r}") from None
        if key not in self._upscalers:
            self._upscalers[key] = MaskUpscaler(embedding.original_size, embedding.input_size,
                                                self.metadata.image_size, output_size=key)
        return self._upscalers[key]

    def _require_image(self) -> ImageEmbedding:
        if self._embedding is None:
            raise NoImageSetError("no image set: call set_image(image) or set_image_embedding(embedding) before predict")
        return self._embedding


def _open_decoder(files: ModelFiles | None, model_dir, decoder, backend, threads, split_decoder) -> FullDecoder | SplitDecoder:
    """The decoder path: an explicit ``decoder`` graph, else the directory's (``files``) split or full decoder."""
    if decoder is not None or files is None:
        if decoder is None:
            raise ModelFileError("no decoder graph: pass a model directory or decoder=PATH")
        if split_decoder:
            raise InvalidInputError("split_decoder=True needs a model directory with the image and prompt stage graphs")
        return FullDecoder(open_backend(decoder, backend, threads))
    if split_decoder and not files.split:
        raise ModelFileError(f"{model_dir} has no split decoder (*.decoder_image.* and *.decoder_prompt.*); "
                             "re-export with `sam-edge export --decoder split` or `both`")
    if files.split and split_decoder is not False:
        return SplitDecoder(open_backend(files.decoder_image, files.backend, threads, spinning=False),
                            open_backend(files.decoder_prompt, files.backend, threads))
    if files.decoder is None:
        raise ModelFileError(f"{model_dir} has only the split decoder; pass split_decoder=None or True")
    return FullDecoder(open_backend(files.decoder, files.backend, threads))


def _check_embedding_fits(embedding: ImageEmbedding, meta: GraphMetadata) -> None:
    """Shape, dtype and frames of a (possibly hand-made) embedding, so the decoder never sees a bad feed."""
    array, expected = embedding.embeddings, tuple(meta.embedding_shape)
    if not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.shape != expected:
        got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
        raise InvalidInputError(f"image embeddings must be float32 {list(expected)} for {meta.model_id}; got {got}")
    if len(embedding.original_size) != 2 or tuple(embedding.input_size) != preprocess_shape(*embedding.original_size, meta.image_size):
        raise InvalidInputError(
            f"embedding sizes do not fit together: original_size {embedding.original_size} resized to a longest side of "
            f"{meta.image_size} is not input_size {embedding.input_size}; use an embedding made by set_image / save"
        )


def _as_metadata(embedding: ImageEmbedding) -> GraphMetadata:
    return GraphMetadata(model_type=embedding.model_type, model_id=embedding.model_id, part="encoder")
