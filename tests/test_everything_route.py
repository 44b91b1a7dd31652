"""``POST /v1/images/{image_id}/everything`` on a real server (tests/serve_helpers.py).

The records must be the public generator's for the same embedding (``SamAutomaticMaskGenerator`` in
process, handed the server's embedding through its cache), a run must not disturb prompts decoded
meanwhile (they wait for the decoder thread and come back unchanged), a second run is refused while
one goes, and every bad body gets its status and one-line message.
"""

from __future__ import annotations

import threading
import time

import pytest
from serve_helpers import SAMPLE, THREADS, post_json, request, sample_bytes, start_server, upload

from sam_edge import SamAutomaticMaskGenerator, SamPredictor
from sam_edge.client import decode_mask
from sam_edge.serve.everything_route import BUSY, EVERYTHING_FIELDS, everything_settings

SETTINGS = {"points_per_side": 6, "pred_iou_thresh": 0.2, "stability_score_thresh": 0.5}


@pytest.fixture(scope="module")
def server():
    running = start_server()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def scene(server):
    return upload(server, sample_bytes())


def reference_records(server, image_id: str, settings: dict) -> list[dict]:
    """The public generator in this process on the server's embedding of the image (no second encode)."""
    predictor = SamPredictor(threads=THREADS)
    predictor.cache.put(image_id, server.service.images.get(image_id))  # image_id is the runtime's cache key
    generator = SamAutomaticMaskGenerator(predictor, output_mode="coco_rle", **settings)
    return generator.generate(SAMPLE)


def test_records_are_the_generators_and_prompts_meanwhile_are_unchanged(server, scene):
    path = f"/v1/images/{scene['image_id']}/everything"
    predict_path = f"/v1/images/{scene['image_id']}/predict"
    before = post_json(server, predict_path, {"points": [[208, 185]], "labels": [1], "multimask": False})
    answers = {}
    run = threading.Thread(target=lambda: answers.setdefault("run", post_json(server, path, SETTINGS)))
    run.start()
    while not getattr(server.app.state, "everything_running", False):
        assert run.is_alive(), "the run ended before it was seen going"
        time.sleep(0.002)
    assert post_json(server, path, SETTINGS) == (503, {"error": BUSY})
    during = post_json(server, predict_path, {"points": [[208, 185]], "labels": [1], "multimask": False})
    run.join(timeout=300)
    status, reply = answers["run"]
    assert status == 200 and reply["image_id"] == scene["image_id"] and reply["generate_ms"] > 0
    assert during[0] == 200 and during[1]["masks"] == before[1]["masks"]
    expected = reference_records(server, scene["image_id"], SETTINGS)
    assert len(reply["records"]) >= 3 and reply["records"] == expected
    counts = reply["counts"]
    assert counts["candidates"] == 6 * 6 * 3 and counts["kept"] == len(expected)
    assert counts["candidates"] - sum(counts["removed"].values()) == counts["kept"]
    first = reply["records"][0]
    assert decode_mask(first["segmentation"]).sum() == first["area"] and first["crop_box"] == [0, 0, 640, 480]
    assert server.app.state.everything_running is False


def test_an_empty_body_takes_the_official_defaults():
    assert everything_settings({}) == {name: spec[3] for name, spec in EVERYTHING_FIELDS.items()}
    assert everything_settings({})["points_per_side"] == 32 and everything_settings({})["pred_iou_thresh"] == 0.88
    assert everything_settings({"points_per_side": 4.0})["points_per_side"] == 4


@pytest.mark.parametrize(
    "body, status, error",
    [
        (
            {"crop_n_layers": 1},
            422,
            "the everything body has unknown field 'crop_n_layers'; accepted: points_per_side, points_per_batch, "
            "pred_iou_thresh, stability_score_thresh, stability_score_offset, box_nms_thresh, min_mask_region_area",
        ),
        ({"points_per_side": 33}, 422, "points_per_side must lie within 1..32; got 33"),
        ({"points_per_side": 0}, 422, "points_per_side must lie within 1..32; got 0"),
        ({"points_per_side": 2.5}, 422, "points_per_side must be a whole number within 1..32; got 2.5"),
        ({"points_per_batch": 65}, 422, "points_per_batch must lie within 1..64; got 65"),
        ({"pred_iou_thresh": 1.5}, 422, "pred_iou_thresh must lie within 0..1; got 1.5"),
        ({"box_nms_thresh": "high"}, 422, "box_nms_thresh must be a number; got a string"),
        ({"stability_score_offset": True}, 422, "stability_score_offset must be a number; got true/false"),
        (
            b"{not json",
            400,
            "the body is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
        ),
        (b"[4]", 400, "the body must be a JSON object; got list"),
    ],
)
def test_bad_bodies_are_refused_with_one_line(server, scene, body, status, error):
    answer = post_json(server, f"/v1/images/{scene['image_id']}/everything", body)
    assert answer == (status, {"error": error})


def test_an_unknown_image_and_another_method_are_refused(server):
    unknown = "unknown image_id 'f00': upload the image (POST /v1/images) first"
    assert post_json(server, "/v1/images/f00/everything", {}) == (404, {"error": unknown})
    not_allowed = "GET /v1/images/f00/everything: method not allowed (routes: docs/protocol.md)"
    assert request(server, "GET", "/v1/images/f00/everything") == (405, {"error": not_allowed})
