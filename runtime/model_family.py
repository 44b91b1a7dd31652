"""What differs between SAM and SAM 2 behind one SamPredictor: encoding, embedding checks, prompts, masks.

``family_of(decoder)`` gives the family of a predictor's decoder; SamPredictor calls only these four
steps, so it holds no family branches of its own:

- ``encode(encoder, rgb)``: HxWx3 uint8 RGB -> ImageEmbedding. SAM resizes the longest side to the
  model's size and pads (runtime/transforms.py); SAM 2 squashes to 1024 x 1024 and also keeps the
  high-resolution features (runtime/sam2_image.py).
- ``check_embedding(embedding, metadata)``: the same model, arrays and sizes that fit, one line otherwise.
- ``decode(decoder, embedding, metadata, ...)``: prompts in the original frame -> (scores [B, C],
  low-res logits to upscale [B, C, 256, 256], low-res logits to return). The same array for SAM;
  SAM 2 upscales its unclamped logits and returns them clamped, as its predictor does.
- ``returned_low_res(decoder, low_res)``: the logits to upscale -> the logits a prediction returns
  (and takes back as ``mask_input``): SAM's unchanged, SAM 2's clamped to [-32, 32].
- ``upscaler(embedding, image_size, mask_size)``: SAM crops the padding then resizes; SAM 2 goes from
  256 straight to H x W.
"""

from __future__ import annotations

import numpy as np

from sam_edge.runtime.decoders import decode_in_runs
from sam_edge.runtime.embedding import ImageEmbedding, is_image_size
from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.heap import release_free_heap
from sam_edge.runtime.mask_upscale import MaskUpscaler
from sam_edge.runtime.metadata import GraphMetadata, check_same_model
from sam_edge.runtime.prompts import build_decoder_feeds
from sam_edge.runtime.sam2_decoder import Sam2Outputs
from sam_edge.runtime.sam2_image import check_sam2_embedding, encode_sam2
from sam_edge.runtime.sam2_prompts import build_sam2_feeds
from sam_edge.runtime.sam2_transforms import direct_mask_upscaler
from sam_edge.runtime.transforms import normalize_and_pad, preprocess_shape, resize_longest_side


class SamFamily:
    """SAM 1 and its relatives (MobileSAM, nano): padded longest-side resize, tokens 1..3 or 0."""

    @staticmethod
    def encode(encoder, rgb: np.ndarray) -> ImageEmbedding:
        meta = encoder.metadata
        original_size = (int(rgb.shape[0]), int(rgb.shape[1]))
        resized = resize_longest_side(rgb, meta.image_size)
        height, width = resized.shape[:2]
        tensor = normalize_and_pad(resized, meta.image_size, meta.pixel_mean, meta.pixel_std)
        (embeddings,) = encoder.run(["image_embeddings"], {"image": tensor})
        del resized, tensor
        release_free_heap()  # the preprocessing and engine transients (runtime/heap.py)
        return ImageEmbedding(embeddings, original_size, (height, width), meta.model_id, meta.model_type)

    @staticmethod
    def check_embedding(embedding: ImageEmbedding, metadata: GraphMetadata) -> None:
        made_by = GraphMetadata(model_type=embedding.model_type, model_id=embedding.model_id, part="encoder")
        check_same_model(metadata, made_by, "the embedding and the decoder")
        _check_embedding_fits(embedding, metadata)

    @staticmethod
    def decode(decoder, embedding, metadata, points, labels, boxes, mask_input, multimask: bool, batched: bool):
        feeds = build_decoder_feeds(
            embedding.original_size, embedding.input_size, points, labels, boxes, mask_input, batched
        )
        scores, low_res = decode_in_runs(decoder, embedding, feeds)
        tokens = slice(1, None) if multimask else slice(0, 1)
        low_res = np.ascontiguousarray(low_res[:, tokens])
        return scores[:, tokens], low_res, low_res

    @staticmethod
    def returned_low_res(decoder, low_res: np.ndarray) -> np.ndarray:
        return low_res

    @staticmethod
    def upscaler(embedding: ImageEmbedding, image_size: int, mask_size) -> MaskUpscaler:
        return MaskUpscaler(embedding.original_size, embedding.input_size, image_size, output_size=mask_size)


class Sam2Family:
    """SAM 2 / 2.1: squashed 1024 x 1024 input, high-res features, dynamic single mask, clamped logits."""

    @staticmethod
    def encode(encoder, rgb: np.ndarray) -> ImageEmbedding:
        embedding = encode_sam2(encoder, rgb)
        release_free_heap()  # the preprocessing and engine transients (runtime/heap.py)
        return embedding

    @staticmethod
    def check_embedding(embedding: ImageEmbedding, metadata: GraphMetadata) -> None:
        check_sam2_embedding(embedding, metadata)

    @staticmethod
    def decode(decoder, embedding, metadata, points, labels, boxes, mask_input, multimask: bool, batched: bool):
        feeds = build_sam2_feeds(
            embedding.original_size, metadata.image_size, points, labels, boxes, mask_input, batched
        )
        scores, low_res = decoder.select(*decode_in_runs(decoder, embedding, feeds), multimask)
        return scores, low_res, Sam2Family.returned_low_res(decoder, low_res)

    @staticmethod
    def returned_low_res(decoder, low_res: np.ndarray) -> np.ndarray:
        return decoder.clamp(low_res)  # as SAM2ImagePredictor returns them (and takes them back)

    @staticmethod
    def upscaler(embedding: ImageEmbedding, image_size: int, mask_size) -> MaskUpscaler:
        return direct_mask_upscaler(embedding.original_size, output_size=mask_size)


def family_of(decoder) -> type[SamFamily] | type[Sam2Family]:
    """The family whose steps a predictor with ``decoder`` runs."""
    return Sam2Family if isinstance(decoder, Sam2Outputs) else SamFamily


def _check_embedding_fits(embedding: ImageEmbedding, meta: GraphMetadata) -> None:
    """Shape, dtype, values and frames of a (possibly hand-made) embedding, so the decoder never sees a bad feed."""
    array, expected = embedding.embeddings, tuple(meta.embedding_shape)
    if not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.shape != expected:
        got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
        raise InvalidInputError(f"image embeddings must be float32 {list(expected)} for {meta.model_id}; got {got}")
    if not np.isfinite(array).all():
        raise InvalidInputError("image embeddings contain NaN or inf; use an embedding made by set_image / save")
    sizes = (embedding.original_size, embedding.input_size)
    if not all(is_image_size(size) for size in sizes) or tuple(embedding.input_size) != preprocess_shape(
        *embedding.original_size, meta.image_size
    ):
        raise InvalidInputError(
            f"embedding sizes do not fit together: original_size {embedding.original_size!r} resized to a longest "
            f"side of {meta.image_size} is not input_size {embedding.input_size!r}; "
            "use an embedding made by set_image / save"
        )
