"""The browser demo (``sam-edge serve`` at ``/``) used as a person uses it: headless Chromium, a real server.

Each mode is checked on what the page drew: the mask layer's pixels must be exactly the server's mask
for the prompt the page sent (asked again over HTTP with sam_edge.client), the everything layer's
colours must partition the image as the records do, the webcam (Chromium's fake camera) must yield
track masks. Each bad input shows its one-line message, and the page works again after the next
valid action. One server and one browser per module (tests/browser_helpers.py); a page per test.
"""

from __future__ import annotations

import dataclasses
import io
import json
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
from browser_helpers import (
    SCREENSHOTS,
    drawn_mask,
    iou,
    layer_rgba,
    message,
    new_page,
    open_image,
    require_browser,
    screenshot,
    stage_point,
    top_mask,
    wait_message,
    wait_settled,
)
from PIL import Image
from serve_helpers import SAMPLE, SETTINGS, request, start_server

from sam_edge.bench.browser_bench import launch_chromium
from sam_edge.client import SamEdgeClient, decode_mask
from sam_edge.serve.app import BackgroundServer

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
STATIC = REPO / "serve" / "static"
GREEN, RED, YELLOW = (46, 204, 64), (255, 65, 54), (255, 212, 0)  # foreground, background point, box


@pytest.fixture(scope="module")
def server():
    running = start_server()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    return SamEdgeClient(server.url)


@pytest.fixture(scope="module")
def browser():
    sync_playwright = require_browser()
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright, camera=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server):
    context, opened, errors = new_page(browser, server.url)
    yield opened
    context.close()
    assert errors == [], errors  # an uncaught exception in the page is a bug


def test_the_page_and_its_files_are_served_and_shipped(server):
    status, html = request(server, "GET", "/")
    assert status == 200 and b'<script type="module" src="/static/js/main.js"></script>' in html
    files = [path for path in STATIC.rglob("*") if path.is_file()]
    assert {path.name for path in files} >= {"index.html", "demo.css", "main.js", "rle.js", "sample_scene.jpg"}
    for path in files:
        status, body = request(server, "GET", f"/static/{path.relative_to(STATIC).as_posix()}")
        assert status == 200 and body == path.read_bytes(), path
    missing = {"error": "GET /static/nothing.js: not found (routes: docs/protocol.md)"}
    assert request(server, "GET", "/static/nothing.js") == (404, missing)
    with open(REPO / "pyproject.toml", "rb") as handle:
        patterns = tomllib.load(handle)["tool"]["setuptools"]["package-data"]["sam_edge.serve"]
    unshipped = [p for p in files if not any(fnmatch(p.relative_to(STATIC.parent).as_posix(), g) for g in patterns)]
    assert unshipped == []


def test_hover_draws_the_servers_mask_and_follows_the_cursor(page, client):
    image = open_image(page, SAMPLE)
    masks = []
    for x, y in ((208, 185), (400, 200)):
        page.mouse.move(*stage_point(page, x, y))
        near = f"Math.abs(mask.prompt.points[0][0] - {x}) < 1 && Math.abs(mask.prompt.points[0][1] - {y}) < 1"
        drawn = wait_settled(page, f"mask.source === 'hover' && {near}")
        expected = top_mask(client, image["id"], {**drawn["prompt"], "multimask": True})
        pixels = drawn_mask(page)
        assert expected.sum() > 1000 and np.array_equal(pixels, expected), iou(pixels, expected)
        masks.append(pixels)
    assert iou(*masks) < 0.5  # the second position is another object: the mask followed
    samples = page.evaluate("window.samEdgeStats.hover")
    assert samples and all(sample["round_trip_ms"] > 0 and sample["decode_ms"] > 0 for sample in samples)
    assert page.locator("#stat-rtt").text_content().endswith(" ms")
    assert page.locator("#stat-decode").text_content().endswith(" ms")
    screenshot(page, "hover")


def test_clicks_add_foreground_and_background_points(page, client):
    image = open_image(page, SAMPLE)
    page.mouse.click(*stage_point(page, 400, 200))
    drawn = wait_settled(page, "mask.source === 'click'")
    assert drawn["prompt"]["labels"] == [1] and drawn["prompt"]["multimask"] is True  # one point: best of three
    expected = top_mask(client, image["id"], drawn["prompt"])
    assert expected.sum() > 1000 and np.array_equal(drawn_mask(page), expected)
    page.keyboard.down("Shift")
    page.mouse.click(*stage_point(page, 430, 110))
    page.keyboard.up("Shift")
    page.mouse.click(*stage_point(page, 330, 260), button="right")
    drawn = wait_settled(page, "mask.source === 'click' && mask.prompt.points.length === 3")
    assert drawn["prompt"]["labels"] == [1, 0, 0] and drawn["prompt"]["multimask"] is False
    # nano's masks shrink with background points (docs/demo.md); this prompt still keeps a few hundred pixels
    expected = top_mask(client, image["id"], drawn["prompt"])
    pixels = drawn_mask(page)
    assert expected.sum() > 300 and np.array_equal(pixels, expected), iou(pixels, expected)
    prompts = layer_rgba(page, "prompt-layer")
    for (x, y), colour in zip(drawn["prompt"]["points"], (GREEN, RED, RED)):
        assert tuple(prompts[round(y), round(x), :3]) == colour
    screenshot(page, "clicks")
    page.click("#clear")
    assert not drawn_mask(page).any() and page.evaluate("window.samEdge.state.points.length") == 0


def test_a_dragged_box_draws_the_servers_box_mask(page, client):
    image = open_image(page, SAMPLE)
    page.mouse.move(*stage_point(page, 255, 60))
    page.mouse.down()
    page.mouse.move(*stage_point(page, 510, 330), steps=8)
    page.mouse.up()
    drawn = wait_settled(page, "mask.source === 'box'")
    assert np.allclose(drawn["prompt"]["box"], [255, 60, 510, 330], atol=1.0), drawn["prompt"]
    expected = top_mask(client, image["id"], drawn["prompt"])
    pixels = drawn_mask(page)
    assert expected.sum() > 1000 and np.array_equal(pixels, expected), iou(pixels, expected)
    x0, y0, x1, _ = drawn["prompt"]["box"]
    assert tuple(layer_rgba(page, "prompt-layer")[round(y0), round((x0 + x1) / 2), :3]) == YELLOW
    screenshot(page, "box")


def test_everything_colours_every_record(page):
    image = open_image(page, SAMPLE)
    side = 16 if SCREENSHOTS else 6  # the page's default grid for the picture; 6 x 6 keeps the test short
    page.fill("#points-per-side", str(side))
    with page.expect_response(lambda response: response.url.endswith("/everything"), timeout=120_000) as answer:
        page.click("#everything")  # the server's own answer is read off the network, not from the page
    assert json.loads(answer.value.request.post_data) == {
        "points_per_side": side,
        "pred_iou_thresh": 0.2,
        "stability_score_thresh": 0.5,
    }
    reply = answer.value.json()
    assert answer.value.status == 200 and len(reply["records"]) >= 3  # records: tests/test_everything_route.py
    page.wait_for_function("window.samEdge.state.everything !== null", timeout=60_000)
    records = reply["records"]
    order = sorted(range(len(records)), key=lambda i: (-records[i]["area"], i))  # largest first, as painted
    labels = np.full((image["height"], image["width"]), -1)
    for rank, index in enumerate(order):
        labels[decode_mask(records[index]["segmentation"])] = rank
    drawn = layer_rgba(page, "everything-layer")
    assert np.array_equal(drawn[..., 3] > 0, labels >= 0)
    colours = {}
    for rank in np.unique(labels[labels >= 0]):
        region = {tuple(colour) for colour in drawn[labels == rank][:, :3]}
        assert len(region) == 1, (rank, len(region))  # one opaque colour per visible region
        colours[rank] = region.pop()
    assert len(set(colours.values())) == len(colours)  # and a different one for each
    screenshot(page, "everything")
    page.click("#everything")
    assert not (layer_rgba(page, "everything-layer")[..., 3] > 0).any()


def test_the_webcam_streams_frames_and_tracks_a_clicked_object(browser, server):
    context, page, errors = new_page(browser, server.url, permissions=["camera"])
    page.click("#webcam")
    page.wait_for_function("window.samEdgeStats.frames.encoded >= 1", timeout=60_000)
    assert page.evaluate("[window.samEdge.layers.width, window.samEdge.layers.height]") == [640, 480]
    page.mouse.click(*stage_point(page, 320, 240))  # the fake camera's moving disc
    page.wait_for_function("window.samEdgeStats.frames.trackMasks >= 2", timeout=60_000)
    # Track masks keep coming: the drawn pixels and the record are read in one evaluation, so a newer
    # mask cannot replace the one drawn between the two reads.
    mask, drawn = page.evaluate(
        """() => {
          const canvas = document.getElementById("mask-layer");
          const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
          let drawn = 0;
          for (let i = 3; i < pixels.length; i += 4) drawn += pixels[i] > 0;
          return [window.samEdge.state.mask, drawn];
        }"""
    )
    assert mask["source"] == "track" and mask["record"]["area"] > 0
    assert drawn == mask["record"]["area"]
    assert int(page.locator("#stat-dropped").text_content()) >= 0
    screenshot(page, "webcam")
    page.click("#webcam")
    assert page.evaluate("window.samEdge.state.mode") == "image" and message(page) is None
    context.close()
    assert errors == []


def test_downloads_hold_the_mask_and_the_prompts(page, client, tmp_path):
    image = open_image(page, SAMPLE)
    page.mouse.click(*stage_point(page, 400, 200))
    drawn = wait_settled(page, "mask.source === 'click'")
    expected = top_mask(client, image["id"], drawn["prompt"])
    with page.expect_download() as download:
        page.click("#download-png")
    png = np.asarray(Image.open(download.value.path()).convert("L"))
    assert download.value.suggested_filename == "mask.png" and np.array_equal(png > 127, expected)
    with page.expect_download() as download:
        page.click("#download-json")
    record = json.loads(Path(download.value.path()).read_text())
    assert record["image"] == {"image_id": image["id"], "width": 640, "height": 480, "name": "sample_scene.png"}
    assert record["prompts"] == {"points": drawn["prompt"]["points"], "labels": [1], "box": None}
    assert record["mask"]["source"] == "click" and np.array_equal(decode_mask(record["mask"]), expected)


def test_a_dropped_file_that_is_not_an_image_shows_a_message(page, tmp_path):
    page.evaluate(
        """() => {
          const files = new DataTransfer();
          files.items.add(new File(["just text"], "notes.txt", { type: "text/plain" }));
          const drop = new DragEvent("drop", { dataTransfer: files, bubbles: true, cancelable: true });
          document.querySelector("#stage").dispatchEvent(drop);
        }"""
    )
    assert wait_message(page, "notes") == "notes.txt is not an image (text/plain): open a PNG, JPEG or WebP file"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"these bytes are no PNG")
    page.set_input_files("#file", str(broken))
    assert wait_message(page, "broken") == (
        "broken.png: the image is not a PNG, JPEG or WebP file (UnidentifiedImageError); send the bytes of one"
    )
    open_image(page, SAMPLE)  # the next valid action works, and the message goes
    assert message(page) is None


def test_an_image_over_the_servers_limit_shows_the_413_message(page, tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (2100, 2000), (90, 120, 150)).save(big)  # 4.2 MP > the test server's 4 MP
    page.set_input_files("#file", str(big))
    assert wait_message(page, "big.png") == (
        "big.png: the image is 2100x2000 = 4,200,000 pixels, above this server's limit of 4,000,000 "
        "(sam-edge serve --max-image-pixels)"
    )
    assert page.evaluate("window.samEdge.state.image") is None
    open_image(page, SAMPLE)
    assert message(page) is None


def test_a_refused_camera_shows_a_message(page):
    page.click("#webcam")  # this context was not granted the camera
    text = wait_message(page, "the browser refused the camera")
    assert text == "the browser refused the camera (NotAllowedError: Permission denied)"
    assert page.evaluate("window.samEdge.state.mode") == "image"
    open_image(page, SAMPLE)
    assert message(page) is None


def test_the_page_reconnects_after_the_server_went_away(browser):
    first = start_server()
    context, page, errors = new_page(browser, first.url)
    try:
        open_image(page, SAMPLE)
        page.mouse.move(*stage_point(page, 208, 185))
        wait_settled(page, "mask.source === 'hover'")
        first.stop()
        text = wait_message(page, "the connection to the server closed (code ")
        # 1012, "service restart": what uvicorn sends its WebSocket clients when it shuts down
        assert text == "the connection to the server closed (code 1012); the page reconnects on your next action"
        second = BackgroundServer(dataclasses.replace(SETTINGS, port=first.port)).start()
        try:
            page.mouse.move(*stage_point(page, 400, 200))  # the next action: reconnect, upload again, hover
            drawn = wait_settled(page, "mask.source === 'hover' && mask.prompt.points[0][0] > 390")
            expected = top_mask(
                SamEdgeClient(second.url),
                page.evaluate("window.samEdge.state.image.id"),
                {**drawn["prompt"], "multimask": True},
            )
            assert np.array_equal(drawn_mask(page), expected) and message(page) is None
            assert second.service.info()["state"]["images"] == 1  # the new server got the image again
        finally:
            second.stop()
    finally:
        context.close()
    assert errors == []


def test_an_image_of_another_size_maps_clicks_to_its_pixels(page, client, tmp_path):
    """An image of another size and aspect: the layers take its size and clicks map to its pixels."""
    small = tmp_path / "small.png"
    rgb = np.zeros((90, 200, 3), np.uint8)
    rgb[20:70, 40:120] = (220, 40, 40)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    small.write_bytes(buffer.getvalue())
    image = open_image(page, small)
    assert page.evaluate("[window.samEdge.layers.width, window.samEdge.layers.height]") == [200, 90]
    page.mouse.click(*stage_point(page, 80, 45))
    drawn = wait_settled(page, "mask.source === 'click'")
    assert np.allclose(drawn["prompt"]["points"], [[80, 45]], atol=0.5)
    assert np.array_equal(drawn_mask(page), top_mask(client, image["id"], drawn["prompt"]))
