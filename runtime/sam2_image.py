"""A SAM 2 image embedding: made by the ``sam2_encoder`` graph, checked before the decoder reads it.

A SAM 2 ImageEmbedding holds ``embeddings`` = image_embed [1, 256, 64, 64] and ``high_res_features`` =
(high_res_feats_0 [1, 32, 256, 256], high_res_feats_1 [1, 64, 128, 128]), all float32 (16.8 MB against
SAM's 4.2 MB); its ``input_size`` is the squashed frame (S, S).
"""

from __future__ import annotations

import numpy as np

from sam_edge.runtime.backends import Backend
from sam_edge.runtime.embedding import ImageEmbedding, is_image_size
from sam_edge.runtime.errors import InvalidInputError, ModelMismatchError
from sam_edge.runtime.interface import SAM2_ENCODER
from sam_edge.runtime.metadata import GraphMetadata, check_same_model
from sam_edge.runtime.sam2_transforms import squash_and_normalize


def encode_sam2(encoder: Backend, rgb: np.ndarray) -> ImageEmbedding:
    """Run a SAM 2 encoder on an HxWx3 uint8 RGB image: squash, normalize, encode (no caching)."""
    meta = encoder.metadata
    tensor = squash_and_normalize(rgb, meta.image_size, meta.pixel_mean, meta.pixel_std)
    image_embed, high_res_0, high_res_1 = encoder.run(SAM2_ENCODER.output_names, {"image": tensor})
    side = meta.image_size
    original_size = (int(rgb.shape[0]), int(rgb.shape[1]))
    return ImageEmbedding(
        image_embed, original_size, (side, side), meta.model_id, meta.model_type, (high_res_0, high_res_1)
    )


def check_sam2_embedding(embedding: ImageEmbedding, meta: GraphMetadata) -> None:
    """Refuse an embedding the SAM 2 decoder of ``meta`` cannot read: one made by a SAM model (no high-res
    features), by other weights, or with arrays or sizes that do not fit (a hand-made one)."""
    if embedding.high_res_features is None:
        raise ModelMismatchError(
            f"the embedding holds no high-res features, so a SAM model made it ({embedding.model_id}), and "
            f"{meta.model_id} is a SAM 2 model; set the image with this model (set_image)"
        )
    check_same_model(
        meta, GraphMetadata(embedding.model_type, embedding.model_id, "encoder"), "the embedding and the decoder"
    )
    shapes = meta.extra.get("feature_shapes", {})
    arrays = (embedding.embeddings, *embedding.high_res_features)
    for name, array in zip(SAM2_ENCODER.output_names, arrays):
        expected = tuple(shapes.get(name, meta.embedding_shape if name == "image_embed" else ()))
        if not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.shape != expected:
            got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
            raise InvalidInputError(f"{name} must be float32 {list(expected)} for {meta.model_id}; got {got}")
        if not np.isfinite(array).all():
            raise InvalidInputError(f"{name} contains NaN or inf; use an embedding made by set_image / save")
    side = meta.image_size
    if not is_image_size(embedding.original_size) or tuple(embedding.input_size) != (side, side):
        raise InvalidInputError(
            f"embedding sizes do not fit a SAM 2 model: original_size {embedding.original_size!r} must be two "
            f"positive integers and input_size {embedding.input_size!r} the squashed ({side}, {side}); "
            "use an embedding made by set_image / save"
        )
