"""Carry one mask across the frames of a video: the previous mask's box and low-res logits prompt the next frame.

This is SAM 1 on a sequence of images, not SAM 2's video predictor: there is no memory bank. What a
step carries from one frame to the next is the prompt (the box around the last mask, its low-res
logits as ``mask_input``, optionally a positive point); the new frame's embedding does the rest. The
track follows an object that moves a fraction of its size per processed frame and ends (``step``
returns None) when the decoder's mask comes out empty. Used by ``sam-edge track`` and the live server.

Frames: every coordinate is in the ORIGINAL frame of the image currently set on the predictor
(x right, y down, pixels); boxes are [x0, y0, x1, y1] pixel edges (a mask covering columns 3..7 has
x0 = 3, x1 = 8), so a box of a mask always lies inside its image.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sam_edge.runtime.errors import InvalidInputError, SamEdgeError
from sam_edge.runtime.mask_stats import mask_bbox_xywh
from sam_edge.runtime.prediction import Prediction
from sam_edge.runtime.predictor import SamPredictor


class TrackNotStartedError(SamEdgeError, RuntimeError):
    """``step`` was called with no mask being tracked (never started, stopped, or the mask was lost)."""


class MaskTrack:
    """Carries one mask across frames: ``start`` on the first frame, then ``step`` on each new one.

    The caller owns the predictor and sets each new frame on it (``set_image`` or
    ``set_image_embedding``) before ``step``; the track never encodes anything itself. State kept
    between frames: the box of the last mask (float64 [4], that frame's original pixels), its
    low-res logits (float32 [1, 256, 256], the decoder's padded input frame) and the frame's
    ``original_size`` / ``input_size``.

    Frames of another size: the box is rescaled to the new ``original_size`` (x by the width ratio,
    y by the height ratio). The logits are carried only when the new frame resizes to the same
    ``input_size`` (same aspect ratio, e.g. 640x480 after 320x240): they live in that frame. When
    the aspect ratio changes they no longer line up with the image, so that step prompts with the
    rescaled box (+ anchor) alone; the track goes on from its mask.

    ``carry_logits=False`` never feeds the logits: each step prompts with the box (+ anchor) only.
    The logits say where the object WAS, pixel for pixel, so they hold a moving mask back (docs/video.md
    has the measurements); they help while the object stays put.
    """

    def __init__(self, predictor: SamPredictor, *, carry_logits: bool = True) -> None:
        if not isinstance(predictor, SamPredictor):
            raise InvalidInputError(f"MaskTrack takes a SamPredictor; got {type(predictor).__name__}")
        if not isinstance(carry_logits, bool):
            raise InvalidInputError(f"carry_logits must be True or False; got {carry_logits!r}")
        self.predictor = predictor
        self.carry_logits = carry_logits
        self.stop()

    @property
    def active(self) -> bool:
        """True between a ``start`` that found a mask and ``stop`` or a ``step`` that lost it."""
        return self._logits is not None

    @property
    def box(self) -> np.ndarray | None:
        """The box the next ``step`` starts from: float64 [4] x0, y0, x1, y1 (pixel edges) in the last
        frame's original pixels; None when not active."""
        return None if self._box is None else self._box.copy()

    def stop(self) -> None:
        """Forget the tracked mask; ``active`` becomes False (``start`` begins a new track)."""
        self._box: np.ndarray | None = None
        self._logits: np.ndarray | None = None
        self._original_size: tuple[int, int] | None = None
        self._input_size: tuple[int, int] | None = None

    def start(
        self, *, point: tuple[float, float] | None = None, box: Sequence[float] | None = None, label: int = 1
    ) -> Prediction:
        """Segment the object on the current image and keep its mask to carry.

        Exactly one of ``point`` (x, y) with ``label`` (1 foreground, 0 background) or ``box``
        [x0, y0, x1, y1], original pixels. The decoder's three candidates are decoded and the best
        by score is kept. Returns a Prediction of that one mask: masks bool [1, H, W], scores
        float32 [1], low_res_logits float32 [1, 256, 256]. An empty mask starts nothing (``active``
        stays False); an earlier track is replaced either way (a refused prompt leaves it as it was).
        """
        if (point is None) == (box is None):
            raise InvalidInputError(
                "start takes exactly one prompt: point=(x, y) or box=(x0, y0, x1, y1); got "
                + ("both" if point is not None else "neither")
            )
        if box is not None and label != 1:
            raise InvalidInputError(f"label belongs to a point prompt (1 or 0); a box takes none, got label={label!r}")
        coords, labels = (None, None) if point is None else ([point], [label])
        candidates = self.predictor.predict(coords, labels, box, multimask_output=True)
        best = int(np.argmax(candidates.scores))
        chosen = slice(best, best + 1)
        result = Prediction(
            candidates.masks[chosen], candidates.scores[chosen], candidates.low_res_logits[chosen], candidates.upscaler
        )
        self._keep(result)
        return result

    def step(self, anchor: tuple[float, float] | None = None) -> Prediction | None:
        """Carry the mask onto the image now set on the predictor; returns its Prediction, or None if lost.

        Prompt: the last mask's box (rescaled when the frame size changed), its low-res logits as
        ``mask_input`` (unless the aspect ratio changed, class docstring) and ``anchor`` (x, y), if
        given, as a positive point (a fixation that re-anchors the track); ``multimask_output=False``.
        Returns masks bool [1, H, W], scores float32 [1], low_res_logits float32 [1, 256, 256] in
        the new frame. When that mask is empty the track ends: None, and ``active`` becomes False.
        """
        if not self.active:
            raise TrackNotStartedError(
                "no mask is being tracked (never started, stopped, or lost): call start(point=(x, y)) or "
                "start(box=(x0, y0, x1, y1)) first"
            )
        self.predictor.get_image_embedding()  # the predictor's own NoImageSetError when no frame is set
        box, mask_input = self._prompt_for(self.predictor.original_size, self.predictor.input_size)
        coords, labels = (None, None) if anchor is None else ([anchor], [1])
        result = self.predictor.predict(coords, labels, box, mask_input, multimask_output=False)
        self._keep(result)
        return result if self.active else None

    def _prompt_for(
        self, original_size: tuple[int, int], input_size: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The carried box in ``original_size`` pixels and the logits to feed (None when the frames differ)."""
        (old_h, old_w), (new_h, new_w) = self._original_size, original_size
        scale = np.array([new_w / old_w, new_h / old_h, new_w / old_w, new_h / old_h])
        box = np.clip(self._box * scale, 0.0, [new_w, new_h, new_w, new_h])
        same_frame = tuple(input_size) == self._input_size
        return box, (self._logits if self.carry_logits and same_frame else None)

    def _keep(self, result: Prediction) -> None:
        """Remember the mask of a single-mask ``result`` to carry, or end the track when it is empty."""
        x, y, w, h = mask_bbox_xywh(result.masks[0])  # masks bool [1, H, W] (predict without return_logits)
        if w == 0:
            self.stop()
            return
        self._box = np.array([x, y, x + w, y + h], dtype=np.float64)
        self._logits = np.ascontiguousarray(result.low_res_logits[0:1], dtype=np.float32)
        self._original_size = self.predictor.original_size
        self._input_size = self.predictor.input_size
