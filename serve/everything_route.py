"""``POST /v1/images/{image_id}/everything``: SAM's automatic mask generator on a kept image (docs/protocol.md).

The body is an optional JSON object of generator settings (``EVERYTHING_FIELDS``, each bounded); the
answer holds the official records with COCO RLE segmentations (``output_mode="coco_rle"``), what each
filter removed, and the time the decoder thread spent.

The server keeps embeddings, not pixels, so the generator runs its one crop, the whole image
(``crop_n_layers`` 0; crops would need the pixels and the encoder), on the kept embedding: it is given
the decoder predictor through ``_KeptImage``, whose ``set_image`` takes the image's size and sets the
embedding instead of encoding. The run goes through the decoder worker like every prompt, so it never
races the decoder predictor; it holds that thread for its whole duration (prompts of every client wait
behind it), so one run at a time is accepted (503 while one is going).
"""

from __future__ import annotations

import numpy as np
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sam_edge.runtime.automatic_mask_generator import SamAutomaticMaskGenerator
from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.errors import InvalidInputError, SamEdgeError
from sam_edge.runtime.predictor import SamPredictor
from sam_edge.serve.http_body import read_json
from sam_edge.serve.prompt_fields import check_fields, number

# name -> (integer?, lowest, highest, default). Defaults are segment_anything's; the bounds keep one run
# to at most 32 x 32 = 1024 prompts and 64 prompts (~50 MB of low-res logits) per decoder call.
EVERYTHING_FIELDS = {
    "points_per_side": (True, 1, 32, 32),
    "points_per_batch": (True, 1, 64, 64),
    "pred_iou_thresh": (False, 0.0, 1.0, 0.88),
    "stability_score_thresh": (False, 0.0, 1.0, 0.95),
    "stability_score_offset": (False, 0.0, 16.0, 1.0),
    "box_nms_thresh": (False, 0.0, 1.0, 0.7),
    "min_mask_region_area": (True, 0, 1 << 24, 0),
}
BUSY = "an everything run is already going on this server (one at a time: it holds the decoder); try again shortly"


def everything_settings(body: dict) -> dict:
    """The generator's keyword arguments from a request body: every field checked, the rest defaults."""
    check_fields(body, tuple(EVERYTHING_FIELDS), "the everything body")
    settings = {}
    for name, (integer, low, high, default) in EVERYTHING_FIELDS.items():
        value = body.get(name)
        if value is None:
            settings[name] = default
            continue
        value = number(value, name)
        if integer and value != int(value):
            raise InvalidInputError(f"{name} must be a whole number within {low}..{high}; got {value:g}")
        if not low <= value <= high:
            raise InvalidInputError(f"{name} must lie within {low:g}..{high:g}; got {value:g}")
        settings[name] = int(value) if integer else value
    return settings


class _KeptImage:
    """The decoder predictor as the generator sees it: ``set_image`` of an array of the kept image's size
    sets the kept embedding (the generator's one crop is the whole image); the rest is the predictor's."""

    def __init__(self, predictor: SamPredictor, embedding: ImageEmbedding) -> None:
        self._predictor, self._embedding = predictor, embedding
        self.max_pixels = None  # the placeholder image below is the kept image's own size

    def placeholder(self) -> np.ndarray:
        """A zero HxWx3 uint8 array of the kept image's size: what ``generate`` takes in place of the pixels."""
        height, width = self._embedding.original_size
        return np.zeros((height, width, 3), np.uint8)

    def set_image(self, rgb: np.ndarray) -> None:
        if tuple(rgb.shape[:2]) != tuple(self._embedding.original_size):  # a crop: would need the encoder
            raise InvalidInputError("the everything route runs on the whole image only (no crop layers)")
        if self._predictor.image_embedding is not self._embedding:
            self._predictor.set_image_embedding(self._embedding)

    def reset_image(self) -> None:
        """Kept set: the decoder worker's next call on this image need not set it again."""

    def mask_upscaler(self, *args, **kwargs):
        return self._predictor.mask_upscaler(*args, **kwargs)

    def decode_low_res(self, *args, **kwargs):
        return self._predictor.decode_low_res(*args, **kwargs)


def generate_on_embedding(predictor: SamPredictor, embedding: ImageEmbedding, settings: dict) -> dict:
    """On the decoder thread: ``{"records": [...], "counts": {...}}`` of the whole image of ``embedding``."""
    generator = SamAutomaticMaskGenerator(predictor, output_mode="coco_rle", **settings)
    kept = _KeptImage(predictor, embedding)
    generator.predictor = kept
    records = generator.generate(kept.placeholder())
    counts = generator.last_counts
    return {
        "records": records,
        "counts": {"candidates": counts.candidates, "removed": dict(counts.removed), "kept": counts.kept},
    }


async def everything(request: Request) -> JSONResponse:
    """Body: {} or generator settings -> {"image_id", "records", "counts", "generate_ms"}."""
    service = request.app.state.service
    image_id = request.path_params["image_id"]
    embedding = service.images.get(image_id)
    if embedding is None:
        raise HTTPException(404, f"unknown image_id {image_id[:80]!r}: upload the image (POST /v1/images) first")
    body = await read_json(request, service.settings.max_json_bytes) if _has_body(request) else {}
    try:
        settings = everything_settings(body)
    except InvalidInputError as error:
        raise HTTPException(422, str(error)) from None
    if getattr(request.app.state, "everything_running", False):
        raise HTTPException(503, BUSY)
    request.app.state.everything_running = True
    try:
        result, generate_ms = await service.decoder.run(
            embedding, lambda predictor: generate_on_embedding(predictor, embedding, settings)
        )
    except SamEdgeError as error:
        raise HTTPException(422, str(error)) from None
    finally:
        request.app.state.everything_running = False
    return JSONResponse({"image_id": image_id, **result, "generate_ms": round(generate_ms, 3)})


def _has_body(request: Request) -> bool:
    """False for a body announced empty (``Content-Length: 0``, what a bodiless fetch or ``curl -d ""`` sends):
    the defaults then apply."""
    return request.headers.get("content-length", "").strip() != "0"


ROUTES = [Route("/v1/images/{image_id}/everything", everything, methods=["POST"])]
