"""The HTTP routes (docs/protocol.md): thin, each reads its input with a limit, calls the service, answers JSON.

Errors are ``{"error": "<one line>"}`` (serve/app.py turns every HTTPException into that): 400 a body
that cannot be read (not JSON, not an image, not an .npz), 422 a well-formed body with a wrong value,
404 an unknown image_id, 413 a body or image over the limits, 503 the encoder's queue full.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.errors import InvalidInputError, SamEdgeError
from sam_edge.serve.encoder_worker import EncoderBusy
from sam_edge.serve.http_body import read_body, read_json
from sam_edge.serve.image_store import ImageTooLarge, embedding_from_bytes, embedding_to_bytes
from sam_edge.serve.mask_messages import http_masks
from sam_edge.serve.prompt_fields import (
    Prompt,
    box_field,
    check_fields,
    labels_field,
    mask_input_field,
    points_field,
)

PREDICT_FIELDS = ("points", "labels", "box", "multimask", "mask_input", "return_logits")


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def info(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.service.info())


async def upload_image(request: Request) -> JSONResponse:
    """Body: an image file's bytes -> {"image_id", "width", "height", "encode_ms", "cached"}."""
    service = request.app.state.service
    data = await read_body(request, service.settings.max_body_bytes, "image")
    try:
        image_id, embedding, encode_ms, cached = await service.add_image_bytes(data)
    except ImageTooLarge as error:
        raise HTTPException(413, str(error)) from None
    except EncoderBusy as error:
        raise HTTPException(503, str(error)) from None
    except InvalidInputError as error:
        raise HTTPException(400, str(error)) from None
    return JSONResponse({**_image_record(image_id, embedding), "encode_ms": round(encode_ms, 3), "cached": cached})


async def image_info(request: Request) -> JSONResponse:
    image_id, embedding = _kept_image(request)
    return JSONResponse(_image_record(image_id, embedding))


async def predict(request: Request) -> JSONResponse:
    """Body: {"points", "labels", "box", "multimask", "mask_input", "return_logits"} -> {"masks", "decode_ms"}."""
    service = request.app.state.service
    image_id, embedding = _kept_image(request)
    body = await read_json(request, service.settings.max_json_bytes)
    try:
        prompt, multimask, mask_input, return_logits = parse_predict_body(body, service.settings.max_points)
        prompt.check_inside(embedding.original_size)
    except InvalidInputError as error:
        raise HTTPException(422, str(error)) from None

    def decode(predictor):
        # RLE on the decoder thread too: the event loop only sends
        scores, low_res = predictor.decode_low_res(
            prompt.points, prompt.labels, prompt.box, mask_input, multimask, batched=False
        )
        masks = http_masks(predictor.mask_upscaler(), scores[0], low_res[0])
        if return_logits:  # as predict returns them, to come back as mask_input
            for record, logits in zip(masks, predictor.returned_low_res(low_res)[0]):
                record["low_res_logits"] = logits.round(4).tolist()
        return masks

    try:
        masks, decode_ms = await service.decoder.run(embedding, decode)
    except SamEdgeError as error:
        raise HTTPException(422, str(error)) from None
    return JSONResponse({"image_id": image_id, "masks": masks, "decode_ms": round(decode_ms, 3)})


async def get_embedding(request: Request) -> Response:
    """The image's embedding as the .npz ``ImageEmbedding.save`` writes."""
    image_id, embedding = _kept_image(request)
    data = await asyncio.to_thread(embedding_to_bytes, embedding)
    headers = {"Content-Disposition": f'attachment; filename="{image_id}.npz"'}
    return Response(data, media_type="application/octet-stream", headers=headers)


async def register_embedding(request: Request) -> JSONResponse:
    """Body: an .npz of this server's model -> {"image_id", "width", "height"}."""
    service = request.app.state.service
    data = await read_body(request, service.settings.max_body_bytes, "embedding")
    try:
        embedding = await asyncio.to_thread(embedding_from_bytes, data)
    except InvalidInputError as error:
        raise HTTPException(400, str(error)) from None
    try:
        image_id = await service.add_embedding(embedding)
    except SamEdgeError as error:
        raise HTTPException(422, str(error)) from None
    return JSONResponse(_image_record(image_id, embedding))


def parse_predict_body(body: dict, max_points: int) -> tuple[Prompt, bool, object, bool]:
    """(prompt, multimask, mask_input float32 [1, 256, 256] or None, return_logits) of a predict body."""
    check_fields(body, PREDICT_FIELDS, "the predict body")
    points = labels = box = None
    if body.get("points") is not None:
        points = points_field(body["points"], max_points)
        labels = labels_field(body.get("labels"), len(points))
    elif body.get("labels") is not None:
        raise InvalidInputError("labels given without points")
    if body.get("box") is not None:
        box = box_field(body["box"])
    if points is None and box is None:
        raise InvalidInputError("empty prompt: give points with labels and/or a box (original image pixels)")
    flags = {}
    for name, default in (("multimask", True), ("return_logits", False)):
        flags[name] = body.get(name, default)
        if not isinstance(flags[name], bool):
            raise InvalidInputError(f"{name} must be true or false; got {flags[name]!r:.40}")
    mask_input = None if body.get("mask_input") is None else mask_input_field(body["mask_input"])
    return Prompt(points, labels, box), flags["multimask"], mask_input, flags["return_logits"]


def _kept_image(request: Request) -> tuple[str, ImageEmbedding]:
    image_id = request.path_params["image_id"]
    embedding = request.app.state.service.images.get(image_id)
    if embedding is None:
        raise HTTPException(404, f"unknown image_id {image_id[:80]!r}: upload the image (POST /v1/images) first")
    return image_id, embedding


def _image_record(image_id: str, embedding: ImageEmbedding) -> dict:
    height, width = embedding.original_size
    return {"image_id": image_id, "width": int(width), "height": int(height)}


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/v1/info", info, methods=["GET"]),
    Route("/v1/images", upload_image, methods=["POST"]),
    Route("/v1/images/{image_id}", image_info, methods=["GET"]),
    Route("/v1/images/{image_id}/predict", predict, methods=["POST"]),
    Route("/v1/images/{image_id}/embedding", get_embedding, methods=["GET"]),
    Route("/v1/embeddings", register_embedding, methods=["POST"]),
]
