"""SAM 2's decoder on a batch of prompts, and what SAM2ImagePredictor does with its four masks.

The decoder is one graph (``sam2_decoder``) or SAM's split pair (``sam2_decoder_image`` once per image,
``sam2_decoder_prompt`` per call; runtime/interface.py). Both return every token's mask unclamped.
Here, in numpy:
- multimask output is tokens 1..3; a single mask is token 0 unless the dynamic fallback is on and
  token 0's stability on its 256 x 256 logits, area(l > delta) / area(l > -delta) (1 when the second
  area is 0), is below the threshold: then the multimask token with the highest IoU, mask and score;
- the low-res logits a prediction returns are clamped to [-clamp, clamp]; masks and full-resolution
  logits come from the unclamped ones.
The settings come from the graph's metadata (``extra``: single_mask, low_res_clamp), as exported from
the model's config (export/sam2_graphs.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sam_edge.runtime.backends import Backend
from sam_edge.runtime.decoders import SplitDecoder, _PromptPath
from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.errors import ModelFileError
from sam_edge.runtime.interface import SAM2_DECODER, SAM2_DECODER_IMAGE, SAM2_DECODER_PROMPT
from sam_edge.runtime.prompts import DecoderFeeds

SAM2_DECODER_OUTPUTS = SAM2_DECODER.output_names[:2]  # iou_predictions [B, 4], low_res_masks [B, 4, 256, 256]


@dataclass(frozen=True)
class SingleMaskChoice:
    """How one mask is chosen from the four (build_sam2's dynamic_multimask_via_stability settings)."""

    dynamic: bool
    stability_delta: float
    stability_thresh: float

    def tokens(self, scores: np.ndarray, low_res: np.ndarray) -> np.ndarray:
        """int64 [B]: the token behind each prompt's single mask, from scores [B, 4] and low-res logits
        [B, 4, 256, 256] (unclamped)."""
        single = np.zeros(scores.shape[0], dtype=np.int64)
        if not self.dynamic:
            return single
        best = np.argmax(scores[:, 1:], axis=1) + 1  # the first of equal maxima, as torch.argmax
        stable = stability(low_res[:, 0], self.stability_delta) >= np.float32(self.stability_thresh)
        return np.where(stable, single, best)


def stability(logits: np.ndarray, delta: float) -> np.ndarray:
    """float32 [B]: area(logits > delta) / area(logits > -delta) of [B, H, W] logits, 1 where that area is 0.

    Thresholds and the quotient in float32, as the reference compares them.
    """
    flat = logits.reshape(logits.shape[0], -1)
    inside = np.count_nonzero(flat > np.float32(delta), axis=1).astype(np.float32)
    outside = np.count_nonzero(flat > np.float32(-delta), axis=1).astype(np.float32)
    return np.where(outside > 0, inside / np.maximum(outside, np.float32(1)), np.float32(1))


class Sam2Outputs:
    """What SAM2ImagePredictor does with the decoder's four masks, for either decoder layout: the
    single-mask choice and the clamp, set from the per-prompt graph's metadata (``_read_settings``)."""

    single_mask: SingleMaskChoice
    low_res_clamp: float

    def _read_settings(self, backend: Backend) -> None:
        self.single_mask, self.low_res_clamp = _settings(backend)

    def select(self, scores: np.ndarray, low_res: np.ndarray, multimask_output: bool) -> tuple[np.ndarray, np.ndarray]:
        """(scores [B, C], low-res logits [B, C, 256, 256], unclamped) of the returned masks: C = 3
        (tokens 1..3) with ``multimask_output``, else 1 (SingleMaskChoice)."""
        if multimask_output:
            return scores[:, 1:], np.ascontiguousarray(low_res[:, 1:])
        rows, tokens = np.arange(scores.shape[0]), self.single_mask.tokens(scores, low_res)
        return scores[rows, tokens][:, None], np.ascontiguousarray(low_res[rows, tokens][:, None])

    def clamp(self, low_res: np.ndarray) -> np.ndarray:
        """The low-res logits a prediction returns (and a follow-up prompt takes as mask_input)."""
        return np.clip(low_res, -self.low_res_clamp, self.low_res_clamp)


def sam2_image_features(embedding: ImageEmbedding) -> dict[str, np.ndarray]:
    """The encoder's three outputs under the decoder graphs' input names."""
    high_res_0, high_res_1 = embedding.high_res_features
    return {"image_embed": embedding.embeddings, "high_res_feats_0": high_res_0, "high_res_feats_1": high_res_1}


class Sam2Decoder(Sam2Outputs, _PromptPath):
    """The ``sam2_decoder`` graph: the image embedding and its two high-res features, plus the prompts."""

    layout = "full"

    def __init__(self, backend: Backend) -> None:
        self.per_prompt = backend
        self._read_settings(backend)

    def decode(self, embedding: ImageEmbedding, feeds: DecoderFeeds) -> tuple[np.ndarray, np.ndarray]:
        """(scores [B, 4] (sigmoid IoU), low-res logits [B, 4, 256, 256], unclamped) for B prompts."""
        graph_feeds = sam2_image_features(embedding) | {
            "point_coords": feeds.point_coords,
            "point_labels": feeds.point_labels,
            "mask_input": feeds.mask_input,
            "has_mask_input": feeds.has_mask_input,
        }
        scores, low_res = self.per_prompt.run(SAM2_DECODER_OUTPUTS, graph_feeds)
        return scores, low_res


class Sam2SplitDecoder(Sam2Outputs, SplitDecoder):
    """SAM 2's image stage once per image (with the high-res skips) and prompt stage per call;
    the same decode contract as Sam2Decoder (scores [B, 4] sigmoid IoU, low-res logits unclamped)."""

    image_interface = SAM2_DECODER_IMAGE
    outputs = SAM2_DECODER_PROMPT.output_names

    def __init__(self, image_stage: Backend, prompt_stage: Backend) -> None:
        SplitDecoder.__init__(self, image_stage, prompt_stage)
        self._read_settings(prompt_stage)

    def graphs(self) -> dict[str, Backend]:
        return {"sam2_decoder_image": self.image_stage, "sam2_decoder_prompt": self.per_prompt}

    def image_features(self, embedding: ImageEmbedding) -> dict[str, np.ndarray]:
        return sam2_image_features(embedding)


def _settings(backend: Backend) -> tuple[SingleMaskChoice, float]:
    """The single-mask choice and the clamp from the graph's metadata; ModelFileError when malformed."""
    extra = backend.metadata.extra
    record, clamp = extra.get("single_mask"), extra.get("low_res_clamp")
    try:
        choice = SingleMaskChoice(
            bool(record["dynamic"]), float(record["stability_delta"]), float(record["stability_thresh"])
        )
        clamp = float(clamp)
    except (TypeError, KeyError, ValueError):
        raise ModelFileError(
            f"{backend.path}: its sam_edge metadata lacks SAM 2's single_mask / low_res_clamp settings; "
            "re-export the model with sam-edge export"
        ) from None
    return choice, clamp
