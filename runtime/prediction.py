"""What SamPredictor.predict returns: segment_anything's (masks, scores, logits) tuple, with names.

``Prediction`` is a frozen dataclass that also behaves as that 3-tuple, so code written for the
official predictor keeps working: ``masks, scores, logits = predictor.predict(...)``,
``predictor.predict(...)[0]``, ``len(prediction) == 3``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.mask_stats import stability_score
from sam_edge.runtime.mask_upscale import MaskUpscaler


@dataclass(frozen=True)
class Prediction:
    """Masks for one prompt (or for B prompts of ``predict_batch``), in the original image frame.

    Fields (C = 3 with ``multimask_output``, else 1; B only for ``predict_batch``):

    - ``masks``: bool [(B,) C, H, W], H x W the original image (or the requested ``mask_size``);
      float32 logits of the same shape with ``return_logits`` (mask = logit > 0);
    - ``scores``: float32 [(B,) C], the model's predicted IoU of each mask;
    - ``low_res_logits``: float32 [(B,) C, 256, 256], the decoder's logits in the padded 256 x 256
      frame; one of them, shaped [1, 256, 256], is the ``mask_input`` of a follow-up predict;
    - ``stability_scores``: float32 [(B,) C], the IoU of the mask thresholded at -1 and at +1 (as
      segment_anything's automatic mask generator scores masks), computed on first access.

    Like the official tuple it indexes, slices and unpacks as ``(masks, scores, low_res_logits)``:
    ``p[0]`` is the masks, ``p[-1]`` the logits, ``p[0:2]`` (masks, scores), ``len(p) == 3``. Prompt
    ``i`` of a batched prediction is ``p.prompt(i)``, not ``p[i]``.
    """

    masks: np.ndarray
    scores: np.ndarray
    low_res_logits: np.ndarray
    upscaler: MaskUpscaler | None = field(default=None, repr=False, compare=False)

    def _as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.masks, self.scores, self.low_res_logits

    def __iter__(self):
        return iter(self._as_tuple())

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index):
        """``(masks, scores, low_res_logits)[index]``: an int (negative too) or a slice."""
        return self._as_tuple()[index]

    @cached_property
    def stability_scores(self) -> np.ndarray:
        """float32 [(B,) C]: IoU of (logits > 1) and (logits > -1) per mask, computed once on first access."""
        if self.masks.dtype != np.bool_:
            return stability_score(self.masks).astype(np.float32)
        if self.upscaler is None:
            raise InvalidInputError("stability needs logits: this prediction holds boolean masks and no upscaler")
        return stability_score(self.upscaler.logits(self.low_res_logits)).astype(np.float32)

    def prompt(self, index: int) -> "Prediction":
        """Prompt ``index`` of a batched prediction, as a single-prompt Prediction (masks [C, H, W])."""
        return Prediction(self.masks[index], self.scores[index], self.low_res_logits[index], self.upscaler)
