"""The WebSocket session ``/v1/stream`` of a real server on a loopback port (tests/serve_helpers.py).

Masks are compared exactly with the in-process decoder on the server's own embeddings; gaze traces
are synthetic, so each fixation's onset and the sample that completes it are known to the millisecond.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from serve_helpers import (
    SETTINGS,
    binary_frame_header,
    local_decoder,
    request,
    sample_bytes,
    shifted_png,
    start_server,
    upload,
    websocket_handshake,
)

from sam_edge.client import SamEdgeClient, ServerError, decode_mask
from sam_edge.runtime.mask_tracking import MaskTrack


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


@pytest.fixture
def stream(server, scene):
    with SamEdgeClient(server.url).stream() as session:
        assert session.select_image(scene["image_id"]) == {
            "type": "image",
            "image_id": scene["image_id"],
            "width": 640,
            "height": 480,
        }
        yield session


def best_of_three(decoder, embedding, **prompt):
    decoder.set_image_embedding(embedding)
    result = decoder.predict(prompt.get("points"), prompt.get("labels"), prompt.get("box"), multimask_output=True)
    best = int(np.argmax(result.scores))
    return result.masks[best], float(result.scores[best])


def wait_sessions(server, count: int) -> None:
    for _ in range(200):
        if server.service.sessions == count:
            return
        time.sleep(0.05)
    assert server.service.sessions == count


def test_ready_message(server):
    with SamEdgeClient(server.url).stream() as session:
        assert session.ready["type"] == "ready" and session.ready["model_id"].startswith("nano-")
        assert session.ready["limits"]["max_frame_bytes"] == SETTINGS.max_frame_bytes


def test_point_and_box_answers_are_the_in_process_masks(server, scene, stream, decoder):
    embedding = server.service.images.get(scene["image_id"])
    stream.point(208, 185, id="p1")
    reply = stream.receive(timeout=60)
    assert (reply["type"], reply["source"], reply["id"], reply["dropped"]) == ("mask", "point", "p1", 0)
    mask, score = best_of_three(decoder, embedding, points=[[208, 185]], labels=[1])
    np.testing.assert_array_equal(decode_mask(reply), mask)
    assert reply["score"] == round(score, 6) and reply["area"] == int(mask.sum())
    assert reply["latency_ms"] >= reply["decode_ms"] > 0 and 0 <= reply["queue_ms"] <= SETTINGS.max_prompt_age_ms
    stream.box([255, 60, 510, 330], id=7)
    reply = stream.receive(timeout=60)
    assert (reply["source"], reply["id"]) == ("box", 7)
    mask, _ = best_of_three(decoder, embedding, box=[255, 60, 510, 330])
    np.testing.assert_array_equal(decode_mask(reply), mask)


def fixation_trace(start_t: float, at: tuple[float, float], count: int) -> list[tuple[float, float, float]]:
    """``count`` samples every 8 ms (125 Hz) within 0.5 px of ``at``: well under 30 deg/s at 40 px/deg."""
    return [(start_t + 8.0 * i, at[0] + 0.5 * (i % 2), at[1]) for i in range(count)]


def test_gaze_fixations_yield_one_mask_each(server, scene, stream, decoder):
    embedding = server.service.images.get(scene["image_id"])
    # a fixation at (208, 185) from t = 1000: 14 samples, 1000..1104; complete at 1104 (>= 100 ms)
    for t, x, y in fixation_trace(1000.0, (208, 185), 20):
        stream.gaze(t, x, y)
    reply = stream.receive(timeout=60)
    assert (reply["source"], reply["t"], reply["onset_t"]) == ("gaze", 1104.0, 1000.0)
    assert (reply["x"], reply["y"]) == (208.25, 185.0)  # mean of the 14 samples, alternating +0.5
    mask, _ = best_of_three(decoder, embedding, points=[[208.25, 185.0]], labels=[1])
    np.testing.assert_array_equal(decode_mask(reply), mask)
    # a saccade (3 samples, 100+ px per 8 ms), then a fixation at (400, 200) landing at t = 1200
    for t, x, y in [(1160.0, 260.0, 190.0), (1168.0, 330.0, 195.0), (1176.0, 360.0, 197.0)]:
        stream.gaze(t, x, y)
    for t, x, y in fixation_trace(1200.0, (400, 200), 14):
        stream.gaze(t, x, y)
    reply = stream.receive(timeout=60)
    assert (reply["source"], reply["t"], reply["onset_t"], reply["x"]) == ("gaze", 1304.0, 1200.0, 400.25)
    stream.point(5, 5, id="after")  # nothing else came from the saccade or the samples after each fixation
    assert stream.receive(timeout=60)["id"] == "after"


def test_latest_wins_and_stale_prompts_are_counted(server, stream):
    assert stream.config(max_prompt_age_ms=0.001)["max_prompt_age_ms"] == 0.001  # every prompt waits longer
    for index in range(3):
        stream.point(100 + index, 100, id=index)
    time.sleep(0.5)  # the session takes and drops them (no decoding) long before this
    stream.config(max_prompt_age_ms=SETTINGS.max_prompt_age_ms)
    stream.point(300, 200, id="last")
    reply = stream.receive(timeout=60)
    assert (reply["id"], reply["dropped"]) == ("last", 3)  # none of the three was decoded; the reply counts them
    for index in range(5):  # faster than the decoder: each reply counts the prompts the newer ones replaced
        stream.point(50 + 10 * index, 60, id=f"burst{index}")
    answered, dropped = [], 0
    while "burst4" not in answered:
        reply = stream.receive(timeout=60)
        answered.append(reply["id"])
        dropped += reply["dropped"]
    assert len(answered) + dropped == 5 and answered == sorted(answered)


OUTSIDE = "lies outside the image: accepted 0 <= x <= 640, 0 <= y <= 480 (original pixels)"
JSON_ERROR = "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
BAD_MESSAGES = [
    ("{oops", f"malformed JSON ({JSON_ERROR})", None),
    ("[1]", "a message must be a JSON object with a type; got list", None),
    ('{"type": "wave"}', "unknown message type 'wave'; accepted: image, gaze, point, box, track, config", None),
    (
        '{"type": "point", "x": 1, "y": 2, "z": 3}',
        "a point message has unknown field 'z'; accepted: type, x, y, label, id",
        "point",
    ),
    ('{"type": "point", "x": NaN, "y": 2}', "point x must be a finite number; got nan", "point"),
    ('{"type": "point", "x": "1", "y": 2}', "point x must be a number; got a string", "point"),
    ('{"type": "point", "x": 700, "y": 2, "id": "o"}', f"point (700, 2) {OUTSIDE}", "point"),
    ('{"type": "point", "x": 1, "y": 2, "label": 3}', "label must be 1 (foreground) or 0 (background); got 3", "point"),
    ('{"type": "box", "box": [1, 2, 3]}', "box must be [x0, y0, x1, y1]; got a list of 3", "box"),
    ('{"type": "gaze", "t": 1, "x": -1, "y": 2}', f"gaze (-1, 2) {OUTSIDE}", "gaze"),
    ('{"type": "gaze", "t": null, "x": 1, "y": 2}', "gaze t must be a number; got null", "gaze"),
    (
        '{"type": "image", "image_id": "nope"}',
        "unknown image_id 'nope': upload the image (POST /v1/images) first",
        "image",
    ),
    ('{"type": "track", "on": "yes"}', "a track message needs on: true or false; got 'yes'", "track"),
    (
        '{"type": "config", "px_per_degree": 0}',
        "px_per_degree must be a number within 0.001..100000; got 0.0",
        "config",
    ),
    (
        '{"type": "config", "max_prompt_age_ms": 1e9}',
        "max_prompt_age_ms must lie within (0, 10000]; got 1e+09",
        "config",
    ),
]


def test_bad_messages_are_answered_and_the_socket_stays_open(stream):
    for text, error, in_reply_to in BAD_MESSAGES:
        stream.connection.send(text)
        reply = stream.receive(timeout=60)
        expected = {"type": "error", "error": error}
        if in_reply_to:
            expected["in_reply_to"] = in_reply_to
        if '"id": "o"' in text:
            expected["id"] = "o"
        assert reply == expected, text
    stream.point(208, 185, id="still-open")
    assert stream.receive(timeout=60)["id"] == "still-open"


def test_gaze_time_must_increase(stream):
    stream.gaze(10.0, 5, 5)
    stream.gaze(10.0, 6, 5)
    assert stream.receive(timeout=60)["error"] == "gaze t must increase from sample to sample; got 10 after 10"


def test_prompts_need_an_image(server):
    with SamEdgeClient(server.url).stream() as session:
        session.point(1, 1)
        assert session.receive(timeout=60)["error"].startswith("no image yet: select one with")


def test_frames_and_bad_frames(server):
    with SamEdgeClient(server.url).stream() as session:
        session.frame(sample_bytes())
        reply = session.receive(timeout=60)
        assert reply["type"] == "frame" and reply["frame_id"] == 0 and reply["encode_ms"] > 0
        assert (reply["width"], reply["height"], reply["dropped"]) == (640, 480, 0)
        session.frame(b"GIF89a not really")
        assert session.receive(timeout=60) == {
            "type": "error",
            "error": "the frame is not a PNG, JPEG or WebP file (UnidentifiedImageError); send the bytes of one",
            "frame_id": 1,
        }
        session.frame(b"\0" * (SETTINGS.max_frame_bytes + 1))
        assert session.receive(timeout=60) == {
            "type": "error",
            "error": "frame 2 is 1,048,577 bytes, above this server's limit of 1,048,576",
            "frame_id": 2,
        }
        session.point(208, 185, id="on-the-frame")  # the frame is the current image
        assert session.receive(timeout=60)["id"] == "on-the-frame"


def test_a_frame_over_the_transport_limit_closes_only_that_session(server, scene):
    from websockets.exceptions import ConnectionClosed

    before = server.service.sessions
    with SamEdgeClient(server.url).stream() as session:
        session.frame(b"\0" * (SETTINGS.transport_frame_bytes + 1))
        with pytest.raises(ConnectionClosed) as closed:
            session.receive(timeout=60)
        assert closed.value.rcvd.code == 1009  # message too big
    wait_sessions(server, before)
    assert request(server, "GET", "/healthz")[0] == 200


def test_a_client_gone_mid_frame_leaves_the_server_serving(server, scene):
    before = server.service.sessions
    sock = websocket_handshake(server)
    sock.sendall(binary_frame_header(200_000) + sample_bytes()[:10_000])  # 10 KB of a 200 KB frame
    sock.close()
    wait_sessions(server, before)
    with SamEdgeClient(server.url).stream() as session:
        session.select_image(scene["image_id"])
        session.point(208, 185, id="after-the-cut")
        assert session.receive(timeout=60)["id"] == "after-the-cut"


def test_the_session_limit_answers_503(server):
    wait_sessions(server, 0)
    sessions = [SamEdgeClient(server.url).stream() for _ in range(SETTINGS.max_sessions)]
    try:
        with pytest.raises(ServerError) as refused:
            SamEdgeClient(server.url).stream()
        assert refused.value.status == 503
        assert refused.value.message == "this server is at its limit of 3 stream sessions; try again later"
        assert request(server, "GET", "/healthz")[0] == 200  # HTTP goes on
    finally:
        for session in sessions:
            session.close()
    wait_sessions(server, 0)
    with SamEdgeClient(server.url).stream() as again:
        assert again.ready["type"] == "ready"


def test_tracking_carries_the_mask_across_frames(server, decoder):
    frames = [sample_bytes(), shifted_png(6), shifted_png(12)]
    embeddings = [server.service.images.get(upload(server, frame)["image_id"]) for frame in frames]
    with SamEdgeClient(server.url).stream() as session:
        session.frame(frames[0])
        assert session.receive(timeout=60)["frame_id"] == 0
        session.point(208, 185, id="target")
        assert session.receive(timeout=60)["id"] == "target"
        assert session.track(True) == {"type": "track", "on": True, "active": True}
        replies = []
        for index in (1, 2):
            session.frame(frames[index])
            frame, mask = session.receive(timeout=60), session.receive(timeout=60)
            assert (frame["type"], frame["frame_id"]) == ("frame", index)
            assert (mask["source"], mask["frame_id"], mask["anchored"]) == ("track", index, False)
            replies.append(mask)
        assert session.track(False) == {"type": "track", "on": False, "active": False}
    # the same track in process, on the server's embeddings of the same images
    track = MaskTrack(decoder)
    decoder.set_image_embedding(embeddings[0])
    track.start(point=(208.0, 185.0))
    for embedding, reply in zip(embeddings[1:], replies):
        decoder.set_image_embedding(embedding)
        expected = track.step()
        np.testing.assert_array_equal(decode_mask(reply), expected.masks[0])
        assert reply["score"] == round(float(expected.scores[0]), 6)


def test_sessions_do_not_leak(server):
    wait_sessions(server, 0)
    status, info = request(server, "GET", "/v1/info")
    assert status == 200 and info["state"]["sessions"] == 0 and info["state"]["pending_encodes"] == 0
    assert json.dumps(info)  # plain JSON all through
