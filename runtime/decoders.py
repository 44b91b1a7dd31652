"""The two ways to run SAM's decoder on a batch of prompts: one full graph, or an image stage + a prompt stage.

The split path (export/modeling/split_decoder.py) computes the same masks with the prompt-independent
work done once per image: the image stage's outputs are kept with the ImageEmbedding while it is the
predictor's current image (in memory; saved .npz files do not hold them; set_image drops them from
the image it leaves, which stays in the LRU cache), and each prompt runs only the prompt stage.
A prompt with a mask input changes the image tokens, so for such prompts the image stage runs
once per prompt (still one call for the batch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sam_edge.runtime.backends import Backend
from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.interface import DECODER, DECODER_IMAGE
from sam_edge.runtime.metadata import GraphMetadata, check_same_model
from sam_edge.runtime.prompts import DecoderFeeds

DECODER_OUTPUTS = DECODER.output_names  # iou_predictions [B, 4], low_res_masks [B, 4, 256, 256]
# Prompts per decoder run. Each prompt has its own [4096, 256] image tokens after the first block,
# so a run's working set grows with its prompts: 64 single-point prompts on vit_t took 1743 ms in one
# run, 1619 ms in runs of 4 and 1647 ms in runs of 1 (2-core Intel SPR, alternated in one process).
PROMPTS_PER_RUN = 4


def decode_in_runs(decoder, embedding: ImageEmbedding, feeds: DecoderFeeds) -> tuple[np.ndarray, np.ndarray]:
    """``decoder.decode`` on at most PROMPTS_PER_RUN prompts at a time: (scores [B, 4], low-res logits
    [B, 4, 256, 256]) as one call would give (each prompt's masks depend on that prompt only)."""
    if feeds.prompts <= PROMPTS_PER_RUN:
        return decoder.decode(embedding, feeds)
    runs = [
        decoder.decode(embedding, feeds.rows(start, start + PROMPTS_PER_RUN))
        for start in range(0, feeds.prompts, PROMPTS_PER_RUN)
    ]
    return np.concatenate([scores for scores, _ in runs]), np.concatenate([low_res for _, low_res in runs])


class _PromptPath:
    """What both layouts expose: ``per_prompt`` is the graph run on every prompt call (the full decoder,
    or the prompt stage); its metadata names the model."""

    layout: str
    per_prompt: Backend

    @property
    def path(self) -> Path:
        return Path(self.per_prompt.path)

    @property
    def engine(self) -> str:
        """The engine running the per-prompt graph, "onnxruntime" or "openvino"."""
        return self.per_prompt.name

    @property
    def metadata(self) -> GraphMetadata:
        return self.per_prompt.metadata

    def graphs(self) -> dict[str, Backend]:
        """Graph part name -> the backend running it (for reports of engines and precisions)."""
        return {"decoder": self.per_prompt}


class FullDecoder(_PromptPath):
    """SAM's decoder as one graph (the official interface without orig_im_size)."""

    layout = "full"

    def __init__(self, backend: Backend) -> None:
        self.per_prompt = backend

    def decode(self, embedding: ImageEmbedding, feeds: DecoderFeeds) -> tuple[np.ndarray, np.ndarray]:
        """(scores [B, 4], low-res logits [B, 4, 256, 256]) for B prompts on one image's embedding."""
        scores, low_res = self.per_prompt.run(DECODER_OUTPUTS, feeds.as_dict(embedding.embeddings))
        return scores, low_res


class SplitDecoder(_PromptPath):
    """Image stage once per image (kept in the embedding's ``decoder_state``), prompt stage per call."""

    layout = "split"
    image_interface = DECODER_IMAGE
    outputs = DECODER_OUTPUTS  # what the prompt stage returns, in order

    def __init__(self, image_stage: Backend, prompt_stage: Backend) -> None:
        check_same_model(image_stage.metadata, prompt_stage.metadata, "the decoder's image and prompt stages")
        self.image_stage = image_stage
        self.per_prompt = prompt_stage

    def graphs(self) -> dict[str, Backend]:
        return {"decoder_image": self.image_stage, "decoder_prompt": self.per_prompt}

    def image_state(self, embedding: ImageEmbedding) -> dict[str, np.ndarray]:
        """The image stage's outputs without a mask input, computed once per embedding."""
        key = ("split_decoder", str(self.metadata.model_id))
        cached = embedding.decoder_state.get(key)
        if cached is None or cached[0] is not embedding.embeddings:  # a copy with other arrays: recompute
            no_mask = np.zeros((1, 1, 256, 256), np.float32), np.zeros(1, np.float32)
            cached = (embedding.embeddings, self._run_image_stage(embedding, *no_mask))
            embedding.decoder_state[key] = cached
        return cached[1]

    def decode(self, embedding: ImageEmbedding, feeds: DecoderFeeds) -> tuple[np.ndarray, np.ndarray]:
        """(scores [B, 4], low-res logits [B, 4, 256, 256]) for B prompts on one image's embedding."""
        if feeds.has_mask_input.any():
            state = self._run_image_stage(embedding, feeds.mask_input, feeds.has_mask_input)
        else:
            state = self.image_state(embedding)
        prompt_feeds = state | {"point_coords": feeds.point_coords, "point_labels": feeds.point_labels}
        scores, low_res = self.per_prompt.run(self.outputs[:2], prompt_feeds)
        return scores, low_res

    def _run_image_stage(self, embedding: ImageEmbedding, mask_input, has_mask_input) -> dict[str, np.ndarray]:
        feeds = self.image_features(embedding) | {"mask_input": mask_input, "has_mask_input": has_mask_input}
        names = self.image_interface.output_names
        return dict(zip(names, self.image_stage.run(names, feeds)))

    def image_features(self, embedding: ImageEmbedding) -> dict[str, np.ndarray]:
        """The image stage's feeds from the encoder: SAM's one embedding."""
        return {"image_embeddings": embedding.embeddings}
