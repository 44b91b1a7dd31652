"""`sam-edge serve` on a SAM 2 model: the same routes give SAM 2's masks, scores and logits (small config).

A small SAM 2 config of the real classes, exported with seeded random weights; the server runs on a
loopback port and every answer is compared with the in-process SamPredictor on the same model.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from sam2_golden_data import export_random_sam2
from serve_helpers import SETTINGS, THREADS, post_json, request, sample_bytes, upload

from sam_edge.client import SamEdgeClient, decode_mask
from sam_edge.runtime.predictor import SamPredictor
from sam_edge.serve.app import BackgroundServer

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return export_random_sam2(tmp_path_factory.mktemp("sam2_serve") / "model")


@pytest.fixture(scope="module")
def server(model_dir):
    running = BackgroundServer(dataclasses.replace(SETTINGS, model=str(model_dir))).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def scene(server):
    return upload(server, sample_bytes())


@pytest.fixture(scope="module")
def local(model_dir):
    return SamPredictor(model_dir, with_encoder=False, threads=THREADS)


def test_info_names_the_sam2_model(server, local):
    status, info = request(server, "GET", "/v1/info")
    assert status == 200 and info["model"]["type"] == local.metadata.model_type
    assert info["model"]["id"] == local.metadata.model_id and info["model"]["id"].endswith("-random-seed1")
    assert info["engines"]["decoder_layout"] == local.decoder.layout


@pytest.mark.parametrize("multimask", [True, False])
def test_predict_gives_sam2s_masks_and_its_clamped_logits(server, scene, local, multimask):
    prompt = {"points": [[300, 200]], "labels": [1], "multimask": multimask, "return_logits": True}
    status, reply = post_json(server, f"/v1/images/{scene['image_id']}/predict", prompt)
    assert status == 200, reply
    local.set_image_embedding(server.service.images.get(scene["image_id"]))
    expected = local.predict(prompt["points"], prompt["labels"], multimask_output=multimask)
    assert len(reply["masks"]) == len(expected.masks)
    for record, mask, score, logits in zip(reply["masks"], expected.masks, expected.scores, expected.low_res_logits):
        np.testing.assert_array_equal(decode_mask(record), mask)
        assert record["score"] == round(float(score), 6)
        # the logits predict returns (clamped to [-32, 32], as SAM2ImagePredictor), rounded to 4 decimals
        np.testing.assert_allclose(np.array(record["low_res_logits"]), logits, atol=5e-5)
        assert np.abs(np.array(record["low_res_logits"])).max() <= 32.0


def test_a_stream_point_gets_the_best_of_sam2s_masks(server, scene, local):
    with SamEdgeClient(server.url).stream() as stream:
        stream.select_image(scene["image_id"])
        stream.point(300, 200, id="p1")
        deadline = time.monotonic() + 60
        while True:
            message = stream.receive(timeout=max(0.1, deadline - time.monotonic()))
            if message["type"] == "mask":
                break
    local.set_image_embedding(server.service.images.get(scene["image_id"]))
    expected = local.predict([[300, 200]], [1])
    best = int(np.argmax(expected.scores))
    assert message["id"] == "p1" and message["score"] == round(float(expected.scores[best]), 6)
    np.testing.assert_array_equal(decode_mask(message), expected.masks[best])


def test_the_logits_the_server_returns_are_clamped_for_sam2_only(local):
    # what /predict's return_logits sends: decode_low_res's logits as predict returns them
    logits = np.linspace(-50, 50, 256 * 256, dtype=np.float32).reshape(1, 1, 256, 256)
    np.testing.assert_array_equal(local.returned_low_res(logits), np.clip(logits, -32, 32))
    sam = SamPredictor(with_encoder=False, threads=1)  # the bundled SAM-family model
    np.testing.assert_array_equal(sam.returned_low_res(logits), logits)
