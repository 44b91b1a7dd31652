"""SamPredictor for CPUs: encode an image once, then decode each prompt in milliseconds.

Same contract as segment_anything's SamPredictor: prompts in the ORIGINAL image frame (x, y pixels),
masks [C, H, W] bool, scores [C] float32, low-res logits [C, 256, 256] float32 to feed back as
``mask_input``. C = 3 with ``multimask_output`` (decoder tokens 1..3), else 1 (token 0). Arrays are
numpy, never torch tensors; docs/sam-users.md lists every deliberate difference.

A SAM 2 / 2.1 model directory runs through the same class and API with SAM2ImagePredictor's pre- and
post-processing (runtime/sam2_*.py, docs/sam2.md): the image squashed to 1024 x 1024, box prompts padded
too, the dynamic single-mask choice, low-res logits returned clamped, masks upsampled straight from 256.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sam_edge.runtime.backends import Backend
from sam_edge.runtime.decoders import FullDecoder, SplitDecoder
from sam_edge.runtime.embedding import EmbeddingCache, ImageEmbedding, image_key
from sam_edge.runtime.errors import InvalidInputError, ModelFileError, NoImageSetError, UnsupportedError
from sam_edge.runtime.heap import release_free_heap
from sam_edge.runtime.image_io import DEFAULT_MAX_PIXELS, load_image
from sam_edge.runtime.mask_upscale import MaskUpscaler
from sam_edge.runtime.metadata import GraphMetadata
from sam_edge.runtime.model_family import family_of
from sam_edge.runtime.prediction import Prediction  # defined there; importable from here as before
from sam_edge.runtime.predictor_graphs import open_predictor_graphs
from sam_edge.runtime.sam2_decoder import Sam2Decoder, Sam2SplitDecoder

IMAGE_FORMATS = ("RGB", "BGR")
MAX_UPSCALERS = 8  # (image size, mask size) pairs whose resampling maps a predictor keeps


class SamPredictor:
    """A SAM model on the CPU: ``set_image`` once, then ``predict`` per prompt (as segment_anything).

    Where the model comes from (``model``, the first argument):

    - nothing: the bundled default model ("nano"), ``SamPredictor()``;
    - a bundled model name, ``SamPredictor("nano")``, or a directory written by ``sam-edge export``
      or ``sam-edge quantize``, ``SamPredictor("models/vit_b")`` (a directory wins over a name);
    - explicit graph files: ``encoder=`` and/or ``decoder=`` (a full ``<model>.decoder.*`` graph;
      a split decoder, image + prompt stage, opens from its directory).

    ``with_encoder=False`` opens only the decoder graphs of ``model``: such a predictor takes image
    embeddings made elsewhere (``set_image_embedding(ImageEmbedding.load(path))``), and the
    directory may lack the encoder. ``backend`` "onnxruntime" or "openvino" (default: from the
    files, per part the faster one that ``<model>.backends.json`` recorded); ``threads`` defaults
    to the physical cores (or ``$SAM_EDGE_THREADS``); ``precision`` of the encoder, e.g. "fp32" or
    "int8" (``graph_file.PRECISIONS``; default: the one the directory holds); ``cache_size``
    images' embeddings are kept, so setting an image again is free; ``max_pixels`` caps H x W of
    an image; ``split_decoder`` None uses the image + prompt stage graphs when the directory has
    them (the fast path), True requires them, False runs the single decoder graph. ``spin_wait``
    (onnxruntime): the per-prompt graph's worker threads spin between calls, which saves ~4-8 ms
    per prompt when prompts come back to back on otherwise idle cores; pass False where other
    threads or processes share the cores (``sam-edge serve`` does), since a spinning pool takes
    them away (a server's HTTP predict ran 59.5 vs 30.5 ms p50 beside a second process).
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        encoder: str | Path | None = None,
        decoder: str | Path | None = None,
        with_encoder: bool = True,
        backend: str | None = None,
        threads: int | None = None,
        precision: str | None = None,
        cache_size: int = 8,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        split_decoder: bool | None = None,
        spin_wait: bool = True,
    ) -> None:
        graphs = open_predictor_graphs(
            model,
            encoder,
            decoder,
            with_encoder=with_encoder,
            backend=backend,
            threads=threads,
            precision=precision,
            split_decoder=split_decoder,
            spin_wait=spin_wait,
        )
        self.encoder: Backend | None = graphs.encoder
        self.decoder: FullDecoder | SplitDecoder | Sam2Decoder | Sam2SplitDecoder = graphs.decoder
        self.family = family_of(self.decoder)  # SAM's or SAM 2's pre- and post-processing
        self.max_pixels = max_pixels
        self.cache = EmbeddingCache(cache_size)
        self.reset_image()
        release_free_heap()  # what parsing and packing the graphs left behind (runtime/heap.py)

    @property
    def metadata(self) -> GraphMetadata:
        """The decoder's metadata record (model type, id, image size, precision, ...)."""
        return self.decoder.metadata

    # The image: set, queried, reset

    def reset_image(self) -> None:
        """Forget the current image; predict() then raises until set_image / set_image_embedding."""
        self._embedding: ImageEmbedding | None = None
        self._upscalers: dict[tuple, MaskUpscaler] = {}  # (original size, input size, mask size or None)

    def set_image(self, image, image_format: str = "RGB") -> ImageEmbedding:
        """Encode ``image``, or reuse its cached embedding; returns the ImageEmbedding (official: None).

        ``image``: a path, a PIL image or an array HxW / HxWx1 / HxWx3 / HxWx4 of uint8 (or uint16,
        bool, float in [0, 1]; see image_io.load_image). ``image_format`` is the channel order of an
        array: "RGB" (default) or "BGR" (e.g. from cv2.imread), as in segment_anything; files and PIL
        images are decoded as RGB, so they take only "RGB".
        """
        if image_format not in IMAGE_FORMATS:
            raise InvalidInputError(
                f"image_format must be 'RGB' or 'BGR' (the channel order of the array); got {image_format!r}"
            )
        if image_format == "BGR" and not isinstance(image, np.ndarray):
            raise InvalidInputError(
                f"image_format='BGR' is for arrays (e.g. from cv2.imread); a {type(image).__name__} "
                "is decoded as RGB: pass image_format='RGB'"
            )
        if self.encoder is None:
            raise ModelFileError(
                "this predictor has no encoder graph (opened with with_encoder=False or decoder= only); "
                "give it an embedding with set_image_embedding(ImageEmbedding.load(path))"
            )
        rgb = load_image(image, self.max_pixels)
        if image_format == "BGR":
            rgb = np.ascontiguousarray(rgb[..., ::-1])
        key = image_key(rgb, self.metadata.model_id)
        embedding = self.cache.get(key)
        if embedding is not self._embedding and self._embedding is not None:
            # Cached images keep their embedding only. The decoder's image-stage outputs (~14 MB for
            # SAM, in the engine's arena) come back in ~10 ms if the image does; kept for every cached
            # image they grew a vit_t process from 271 to 386 MiB over 8 images.
            self._embedding.decoder_state.clear()
        if embedding is None:
            embedding = self.encode(rgb)
            self.cache.put(key, embedding)
        self.set_image_embedding(embedding)
        return embedding

    def encode(self, rgb: np.ndarray) -> ImageEmbedding:
        """Run the encoder on an HxWx3 uint8 RGB image (no caching, the current image unchanged)."""
        return self.family.encode(self.encoder, rgb)

    def set_image_embedding(self, embedding: ImageEmbedding) -> None:
        """Use a precomputed embedding (``image_embedding`` of another predictor, ImageEmbedding.load);
        refused when another model made it or its sizes do not fit together."""
        if not isinstance(embedding, ImageEmbedding):
            raise InvalidInputError(
                f"set_image_embedding takes an ImageEmbedding (predictor.image_embedding or "
                f"ImageEmbedding.load(path)); got {type(embedding).__name__}"
            )
        self.family.check_embedding(embedding, self.metadata)
        self._embedding = embedding

    @property
    def is_image_set(self) -> bool:
        """True once set_image or set_image_embedding has run (and reset_image has not)."""
        return self._embedding is not None

    @property
    def original_size(self) -> tuple[int, int] | None:
        """(H, W) of the current image as loaded (EXIF-upright), or None before an image is set."""
        return None if self._embedding is None else tuple(self._embedding.original_size)

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(h, w) of the image resized to a longest side of image_size (1024), or None before an image is set
        (SAM 2: the squashed (1024, 1024))."""
        return None if self._embedding is None else tuple(self._embedding.input_size)

    @property
    def features(self) -> np.ndarray | None:
        """The encoder's output for the current image, float32 [1, 256, 64, 64], or None before an image is set."""
        return None if self._embedding is None else self._embedding.embeddings

    @property
    def image_embedding(self) -> ImageEmbedding | None:
        """The current image's portable ImageEmbedding (``.save(path)``, ``ImageEmbedding.load`` elsewhere), or None."""
        return self._embedding

    def get_image_embedding(self) -> np.ndarray:
        """The current image's embeddings, float32 [1, 256, 64, 64], as segment_anything returns them
        (the array the decoder reads, not a copy); for the portable object use ``image_embedding``."""
        return self._require_image().embeddings

    # Prompts

    def predict(
        self,
        point_coords=None,
        point_labels=None,
        box=None,
        mask_input=None,
        multimask_output: bool = True,
        return_logits: bool = False,
        mask_size: tuple[int, int] | None = None,
    ) -> Prediction:
        """Masks for one prompt, in the original image frame (x right, y down, pixels).

        ``point_coords`` float [N, 2] (x, y) with ``point_labels`` [N] (also [N, 1] or [1, N]):
        1 foreground, 0 background; ``box`` [4] (x0, y0, x1, y1); ``mask_input`` [1, 256, 256], the
        ``low_res_logits`` of a previous prediction. Returns a Prediction: masks bool [C, H, W],
        scores float32 [C], low_res_logits float32 [C, 256, 256] (C = 3 with ``multimask_output``,
        else 1); it unpacks like the official tuple. ``return_logits`` gives float32 logits instead
        of bool masks. ``mask_size`` (height, width), e.g. a display size, returns masks in that
        frame instead of the original image's (cheaper for large photos); prompts stay in the
        original frame.
        """
        return self.predict_batch(
            point_coords,
            point_labels,
            box,
            mask_input,
            multimask_output,
            return_logits,
            batched=False,
            mask_size=mask_size,
        ).prompt(0)

    def predict_batch(
        self,
        point_coords=None,
        point_labels=None,
        boxes=None,
        mask_input=None,
        multimask_output: bool = True,
        return_logits: bool = False,
        batched: bool = True,
        mask_size: tuple[int, int] | None = None,
    ) -> Prediction:
        """B prompts in one decoder call (segment_anything's predict_torch, on numpy arrays).

        ``point_coords`` [B, N, 2] + ``point_labels`` [B, N] and/or ``boxes`` [B, 4], in the original
        frame; ``mask_input`` [1, 256, 256] shared or [B, 1, 256, 256]. Returns masks [B, C, H, W],
        scores [B, C], low-res logits [B, C, 256, 256], stability [B, C]; ``prompt(i)`` is prompt i.
        Only the C returned masks are upscaled (C = 3 with multimask_output, else 1).
        """
        scores, low_res, returned = self._decode(
            point_coords, point_labels, boxes, mask_input, multimask_output, batched
        )
        upscaler = self.mask_upscaler(mask_size)
        masks = upscaler.logits(low_res) if return_logits else upscaler.masks(low_res)
        return Prediction(masks, scores, returned, upscaler)

    def decode_low_res(
        self,
        point_coords=None,
        point_labels=None,
        boxes=None,
        mask_input=None,
        multimask_output: bool = True,
        batched: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The decoder alone: (scores float32 [B, C], low-res logits float32 [B, C, 256, 256]) for B prompts.

        Prompts as ``predict_batch`` (original frame); nothing is upscaled. For callers that decide
        from the scores or the low-res logits which masks to bring to full resolution
        (``mask_upscaler``), as the automatic mask generator does. For a SAM 2 model these are the
        unclamped logits its masks come from (``predict`` returns them clamped to [-32, 32], as SAM 2 does).
        """
        scores, low_res, _ = self._decode(point_coords, point_labels, boxes, mask_input, multimask_output, batched)
        return scores, low_res

    def returned_low_res(self, low_res: np.ndarray) -> np.ndarray:
        """``decode_low_res``'s logits [B, C, 256, 256] as ``predict`` returns them, for a caller that
        hands them back as ``mask_input``: unchanged for SAM, clamped to [-32, 32] for SAM 2."""
        return self.family.returned_low_res(self.decoder, low_res)

    def _decode(self, point_coords, point_labels, boxes, mask_input, multimask_output, batched):
        """(scores [B, C], low-res logits to upscale [B, C, 256, 256], low-res logits to return): the
        same array for SAM; for SAM 2 the unclamped logits and the clamped ones (as its predictor)."""
        embedding = self._require_image()
        return self.family.decode(
            self.decoder,
            embedding,
            self.metadata,
            point_coords,
            point_labels,
            boxes,
            mask_input,
            multimask_output,
            batched,
        )

    def mask_upscaler(self, mask_size: tuple[int, int] | None = None) -> MaskUpscaler:
        """The upscaler from low-res logits to the current image's frame (or ``mask_size``), built once.

        The maps depend only on the image's sizes, so they are kept per (original size, input size,
        mask size) across images: the frames of a video, or photos of one camera, build them once
        (tens of ms for a photo on 2 cores). The last MAX_UPSCALERS are kept (a caller cycling
        through sizes must not grow the predictor without bound).
        """
        embedding = self._require_image()
        size = None if mask_size is None else _mask_size_key(mask_size)
        key = (tuple(embedding.original_size), tuple(embedding.input_size), size)
        if key not in self._upscalers:
            if len(self._upscalers) >= MAX_UPSCALERS:
                self._upscalers.pop(next(iter(self._upscalers)))
            self._upscalers[key] = self.family.upscaler(embedding, self.metadata.image_size, size)
        return self._upscalers[key]

    # segment_anything's torch-tensor calls, which have numpy equivalents here

    def predict_torch(self, *args, **kwargs):
        """Not in sam-edge (no torch): raises UnsupportedError naming predict_batch, its numpy equivalent."""
        raise UnsupportedError(
            "predict_torch takes torch tensors, which sam-edge does not use; call predict_batch with "
            "numpy arrays in original image pixels (point_coords [B, N, 2], point_labels [B, N], boxes [B, 4])"
        )

    def set_torch_image(self, *args, **kwargs):
        """Not in sam-edge (no torch): raises UnsupportedError naming set_image, which takes arrays,
        PIL images and paths."""
        raise UnsupportedError(
            "set_torch_image takes a transformed torch tensor, which sam-edge does not use; "
            "call set_image with the image itself (array, PIL image or path)"
        )

    def _require_image(self) -> ImageEmbedding:
        if self._embedding is None:
            raise NoImageSetError(
                "no image set: call set_image(image) or set_image_embedding(embedding) before predict"
            )
        return self._embedding


def _mask_size_key(mask_size) -> tuple[int, int]:
    """``mask_size`` as (height, width) ints; a one-line InvalidInputError for anything else."""
    try:
        key = tuple(int(side) for side in np.asarray(mask_size, dtype=object).reshape(-1))
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        key = ()
    if len(key) != 2:
        shown = " ".join(repr(np.asarray(mask_size, dtype=object).tolist()).split())[:80]
        raise InvalidInputError(f"mask_size must be (height, width) in whole pixels; got {shown}")
    return key
