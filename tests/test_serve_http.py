"""``sam-edge serve`` over HTTP: a real server on a loopback port, real TCP connections (tests/serve_helpers.py).

Masks are compared exactly with the in-process predictor run on the embedding the server holds;
every bad input of docs/protocol.md gets its status and its one-line message, and the server goes on.
"""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from image_files import png_header_bytes
from PIL import Image
from serve_helpers import (
    SETTINGS,
    local_decoder,
    post_json,
    raw_exchange,
    request,
    sample_bytes,
    shifted_png,
    start_server,
    upload,
)

from sam_edge.client import SamEdgeClient, ServerError, decode_mask
from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.mask_stats import mask_bbox_xywh

pycocotools_mask = pytest.importorskip("pycocotools.mask")


@pytest.fixture(scope="module")
def server():
    running = start_server()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def decoder():
    return local_decoder()


@pytest.fixture(scope="module")
def scene(server):
    return upload(server, sample_bytes())


def test_health_and_info(server):
    assert request(server, "GET", "/healthz") == (200, {"status": "ok"})
    status, info = request(server, "GET", "/v1/info")
    assert status == 200
    assert info["model"]["type"] == "nano" and info["model"]["id"].startswith("nano-")
    assert info["engines"]["decoder_layout"] == "split" and info["precision"]["encoder"] == "fp32"
    assert info["threads"] == {"encoder": 1, "decoder": 2, "encoder_nice": 5}
    assert info["limits"]["max_sessions"] == 3 and info["limits"]["max_body_bytes"] == 6 << 20
    assert info["limits"]["gaze_defaults"]["velocity_threshold_deg_s"] == 30.0


def test_same_bytes_same_id_and_the_cache(server):
    frame = shifted_png(7)
    first = upload(server, frame)
    again = upload(server, frame)
    assert (first["width"], first["height"]) == (640, 480) and first["cached"] is False and first["encode_ms"] > 0
    assert again == {**first, "cached": True, "encode_ms": 0.0}
    assert request(server, "GET", f"/v1/images/{first['image_id']}") == (
        200,
        {"image_id": first["image_id"], "width": 640, "height": 480},
    )


def test_the_encoder_thread_prepares_the_decoders_image_stage(server):
    # The split decoder's image stage is kept with the embedding for every predictor of the model:
    # run with the encode, it is not on the decoder thread when the first prompt arrives.
    embedding = server.service.images.get(upload(server, shifted_png(11))["image_id"])
    state = server.service.decoder_predictor.decoder.image_state(embedding)
    assert list(embedding.decoder_state.values())[0][1] is state  # already there: not recomputed


@pytest.mark.parametrize(
    "prompt",
    [
        {"points": [[208, 185]], "labels": [1]},
        {"points": [[208, 185], [300, 120]], "labels": [1, 0], "multimask": False},
        {"box": [255, 60, 510, 330], "multimask": False},
        {"points": [[400, 200]], "labels": [1], "box": [255, 60, 510, 330]},
    ],
    ids=["point", "two-points", "box", "point+box"],
)
def test_predict_gives_the_in_process_masks(server, scene, decoder, prompt):
    status, reply = post_json(server, f"/v1/images/{scene['image_id']}/predict", prompt)
    assert status == 200, reply
    decoder.set_image_embedding(server.service.images.get(scene["image_id"]))
    expected = decoder.predict(
        prompt.get("points"), prompt.get("labels"), prompt.get("box"), multimask_output=prompt.get("multimask", True)
    )
    assert len(reply["masks"]) == len(expected.masks) and reply["decode_ms"] > 0
    for record, mask, score, stability in zip(
        reply["masks"], expected.masks, expected.scores, expected.stability_scores
    ):
        np.testing.assert_array_equal(decode_mask(record), mask)
        assert record["rle"]["size"] == [480, 640]
        coco = pycocotools_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert record["rle"]["counts"] == coco["counts"].decode()  # pycocotools' own string
        assert record["score"] == round(float(score), 6) and record["stability"] == round(float(stability), 6)
        assert record["bbox"] == list(mask_bbox_xywh(mask)) and record["area"] == int(mask.sum())


def test_mask_input_round_trip(server, scene, decoder):
    path = f"/v1/images/{scene['image_id']}/predict"
    status, first = post_json(server, path, {"points": [[208, 185]], "labels": [1], "return_logits": True})
    assert status == 200 and len(first["masks"][0]["low_res_logits"]) == 256
    returned = [first["masks"][1]["low_res_logits"]]  # [1, 256, 256], rounded to 4 decimals
    prompt = {"points": [[208, 185], [240, 200]], "labels": [1, 1], "multimask": False}
    status, second = post_json(server, path, {**prompt, "mask_input": returned})
    logits = np.array(returned, np.float32)
    assert status == 200, second
    decoder.set_image_embedding(server.service.images.get(scene["image_id"]))
    expected = decoder.predict(prompt["points"], prompt["labels"], mask_input=logits, multimask_output=False)
    np.testing.assert_array_equal(decode_mask(second["masks"][0]), expected.masks[0])


def test_embedding_download_and_register(server, scene, decoder):
    client = SamEdgeClient(server.url)
    embedding = client.embedding(scene["image_id"])
    kept = server.service.images.get(scene["image_id"])
    np.testing.assert_array_equal(embedding.embeddings, kept.embeddings)
    assert (embedding.original_size, embedding.input_size) == ((480, 640), (768, 1024))
    registered = client.register_embedding(embedding)
    assert (registered["width"], registered["height"]) == (640, 480) and registered["image_id"] != scene["image_id"]
    by_upload = client.predict(scene["image_id"], points=[[208, 185]], labels=[1])
    by_embedding = client.predict(registered["image_id"], points=[[208, 185]], labels=[1])
    assert [m["rle"] for m in by_upload["masks"]] == [m["rle"] for m in by_embedding["masks"]]


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size).save(buffer, format="PNG")  # all zeros: a few KB for millions of pixels
    return buffer.getvalue()


def _other_model_embedding() -> bytes:
    embedding = ImageEmbedding(np.zeros((1, 256, 64, 64), np.float32), (480, 640), (768, 1024), "vit_b-0123", "vit_b")
    buffer = io.BytesIO()
    np.savez(buffer, **{k: getattr(embedding, k) for k in ("embeddings", "original_size", "input_size")},
             model_id=np.str_("vit_b-0123"), model_type=np.str_("vit_b"))  # fmt: skip
    return buffer.getvalue()


UPLOAD_ERRORS = [
    (
        b"hello, not an image",
        400,
        "the image is not a PNG, JPEG or WebP file (UnidentifiedImageError); send the bytes of one",
    ),
    (
        png_header_bytes(20000, 20000),  # above twice Pillow's limit: refused while the header is read
        413,
        "the image is 400,000,000 pixels, above this server's limit of 4,000,000 (sam-edge serve --max-image-pixels)",
    ),
    (
        _png((2500, 2000)),  # a real decompression bomb: 5 MP of zeros in a few KB, refused from its header
        413,
        "the image is 2500x2000 = 5,000,000 pixels, above this server's limit of 4,000,000 "
        "(sam-edge serve --max-image-pixels)",
    ),
]


@pytest.mark.parametrize("body, status, error", UPLOAD_ERRORS, ids=["not-an-image", "header-bomb", "zeros-bomb"])
def test_bad_uploads(server, body, status, error):
    assert request(server, "POST", "/v1/images", body) == (status, {"error": error})


def test_truncated_image(server):
    status, reply = request(server, "POST", "/v1/images", sample_bytes()[:5000])
    assert status == 400 and reply["error"].startswith("image file <image> is corrupt or truncated (")


PICKLED = "it holds pickled Python objects, which are never loaded"  # numpy reads bytes that are not a zip so


def test_bad_embeddings(server):
    assert request(server, "POST", "/v1/embeddings", b"not a zip") == (
        400,
        {"error": "the embedding is not a sam-edge embedding .npz (" + PICKLED + ")"},
    )
    status, reply = request(server, "POST", "/v1/embeddings", _other_model_embedding())
    assert status == 422 and reply["error"].startswith("the embedding and the decoder come from different models")


JSON_ERROR = "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
OUTSIDE = "lie outside the image: accepted 0 <= x <= 640, 0 <= y <= 480 (original pixels)"
SWAPPED = "box must have x1 >= x0 and y1 >= y0 (x0, y0, x1, y1 order); got [50.0, 50.0, 10.0, 10.0]"
UNKNOWN_FIELD = (
    "the predict body has unknown field 'colour'; accepted: points, labels, box, multimask, mask_input, return_logits"
)
MASK_SHAPE = "mask_input must be low-res logits shaped [1, 256, 256] (as returned by predict); got (3, 3)"
PREDICT_ERRORS = [
    (b"{not json", 400, "the body is not valid JSON (" + JSON_ERROR + ")"),
    (b"[1, 2]", 400, "the body must be a JSON object; got list"),
    ({}, 422, "empty prompt: give points with labels and/or a box (original image pixels)"),
    ({"points": "208,185", "labels": [1]}, 422, "points must be a non-empty list of [x, y] pairs; got a string"),
    ({"points": [[208, "185"]], "labels": [1]}, 422, "points[0][1] must be a number; got a string"),
    ({"points": [[208, 185]], "labels": [2]}, 422, "labels[0] must be 1 (foreground) or 0 (background); got 2"),
    ({"points": [[208, 185]]}, 422, "labels must be a list of 1 labels (1 or 0), one per point; got null"),
    (b'{"points": [[NaN, 185]], "labels": [1]}', 422, "points[0][0] must be a finite number; got nan"),
    (b'{"box": [0, 0, Infinity, 5]}', 422, "box[2] must be a finite number; got inf"),
    (
        {"points": [[641, 185]], "labels": [1]},
        422,
        "points lie outside the image: accepted 0 <= x <= 640, 0 <= y <= 480 (original pixels)",
    ),
    ({"box": [-5, 0, 10, 10]}, 422, "box " + OUTSIDE),
    ({"box": [50, 50, 10, 10]}, 422, SWAPPED),
    ({"points": [[1, 1]] * 33, "labels": [1] * 33}, 422, "points holds 33 points; this server accepts at most 32"),
    ({"box": [0, 0, 5, 5], "multimask": "yes"}, 422, "multimask must be true or false; got 'yes'"),
    ({"box": [0, 0, 5, 5], "colour": 1}, 422, UNKNOWN_FIELD),
    ({"box": [0, 0, 5, 5], "mask_input": [[1.0] * 3] * 3}, 422, MASK_SHAPE),
]  # fmt: skip


@pytest.mark.parametrize("body, status, error", PREDICT_ERRORS, ids=[str(i) for i in range(len(PREDICT_ERRORS))])
def test_bad_predict_bodies(server, scene, body, status, error):
    assert post_json(server, f"/v1/images/{scene['image_id']}/predict", body) == (status, {"error": error})


def test_unknown_image_and_routes(server):
    unknown = "unknown image_id 'f00': upload the image (POST /v1/images) first"
    assert post_json(server, "/v1/images/f00/predict", {"box": [0, 0, 1, 1]}) == (404, {"error": unknown})
    assert request(server, "GET", "/v1/images/f00/embedding") == (404, {"error": unknown})
    assert request(server, "GET", "/v2/nothing") == (
        404,
        {"error": "GET /v2/nothing: not found (routes: docs/protocol.md)"},
    )
    assert request(server, "GET", "/v1/images") == (
        405,
        {"error": "GET /v1/images: method not allowed (routes: docs/protocol.md)"},
    )


def test_a_300_mb_body_is_refused_before_it_is_read(server):
    head = b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: 314572800\r\n\r\n"
    started = time.monotonic()
    response = raw_exchange(server, head, b"\0" * 65536)  # 64 KB of the 300 MB announced, then we wait
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    body = json.loads(response.partition(b"\r\n\r\n")[2])
    assert body == {"error": "the image is 314,572,800 bytes, above this server's limit of 6,291,456"}
    assert time.monotonic() - started < 30  # answered, not waiting for the other 299.9 MB
    assert request(server, "GET", "/healthz")[0] == 200


def test_a_streamed_body_is_cut_at_the_limit(server):
    head = b"POST /v1/images HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n"
    response = raw_exchange(server, head, chunk * 112)  # 7 MiB, no final chunk: the server stops at 6 MiB
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert json.loads(response.partition(b"\r\n\r\n")[2]) == {
        "error": "the image is over this server's limit of 6,291,456 bytes"
    }


def test_a_client_gone_mid_body_leaves_the_server_serving(server, scene):
    head = b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
    raw_exchange(server, head, sample_bytes()[:30000], read_timeout=0.5)  # closes with 970 KB unsent
    client = SamEdgeClient(server.url)
    assert client.health() and client.info()["state"]["pending_encodes"] == 0
    assert len(client.predict(scene["image_id"], box=[255, 60, 510, 330], multimask=False)["masks"]) == 1


def test_client_raises_server_errors(server):
    with pytest.raises(ServerError, match="^HTTP 404: unknown image_id 'nope'") as caught:
        SamEdgeClient(server.url).predict("nope", points=[[1, 1]], labels=[1])
    assert caught.value.status == 404


def test_images_kept_are_bounded(server):
    for dx in range(SETTINGS.max_images + 2):
        upload(server, shifted_png(100 + dx))
    assert len(server.service.images) == SETTINGS.max_images
