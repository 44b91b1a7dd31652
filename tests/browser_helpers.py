"""The browser demo driven as a person uses it: headless Chromium (Debian's) through Playwright, against a
real server (tests/serve_helpers.py), with what the page drew read back from its canvases.

The page's layers are canvases at the image's resolution (serve/static/js/layers.js); masks are written
there without blending, so a layer's pixels are exactly the mask the page shows. ``SAM_EDGE_SCREENSHOTS=1``
makes ``screenshot`` write docs/images/demo-NAME.png (off by default, so a test run leaves the tree clean).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam_edge.bench.browser_bench import CHROMIUM, open_demo
from sam_edge.client import decode_mask
from sam_edge.runtime.atomic_write import atomic_output

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = os.environ.get("SAM_EDGE_SCREENSHOTS") == "1"
WAIT_MS = 60_000
SCREENSHOT_CLIP = {"x": 0, "y": 0, "width": 1010, "height": 598}  # toolbar, stage and status line

# Reads a canvas' RGBA bytes as base64 (one string crosses to Python, not 1.2 M numbers).
LAYER_PIXELS = """(id) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let text = "";
  for (let i = 0; i < data.length; i += 0x8000) text += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
  return { width: canvas.width, height: canvas.height, data: btoa(text) };
}"""


def require_browser():
    """Playwright's sync API, or skip the module with the reason (CI has both: scripts/setup.sh)."""
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; scripts/setup.sh does it as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[dev]')")
    return sync_playwright


def new_page(browser, url: str, **options):
    """(context, page, errors): the demo in a new browser context; ``errors`` collects uncaught page exceptions."""
    context, page = open_demo(browser, url, accept_downloads=True, **options)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


def layer_rgba(page, layer: str) -> np.ndarray:
    """uint8 [H, W, 4] RGBA of one of the page's layers (image-layer, everything-layer, mask-layer, prompt-layer)."""
    read = page.evaluate(LAYER_PIXELS, layer)
    flat = np.frombuffer(base64.b64decode(read["data"]), dtype=np.uint8)
    return flat.reshape(read["height"], read["width"], 4)


def drawn_mask(page) -> np.ndarray:
    """bool [H, W]: the pixels of the mask layer that are drawn (alpha > 0)."""
    return layer_rgba(page, "mask-layer")[..., 3] > 0


def stage_point(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image pixel (x, y) (the stage may be scaled by CSS)."""
    box = page.locator("#prompt-layer").bounding_box()
    width, height = page.evaluate("[window.samEdge.layers.width, window.samEdge.layers.height]")
    return box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height


def wait_settled(page, condition: str) -> dict:
    """Wait until ``condition`` (JS on ``mask`` = window.samEdge.state.mask) holds and no prompt is in
    flight or waiting; returns the mask's source and prompt."""
    page.wait_for_function(
        f"""() => {{
          const p = window.samEdge.prompting, mask = window.samEdge.state.mask;
          const idle = (channel) => !channel.busy && channel.pending === null;
          return idle(p.hover) && idle(p.predictions) && mask !== null && ({condition});
        }}""",
        timeout=WAIT_MS,
    )
    return page.evaluate("({source: window.samEdge.state.mask.source, prompt: window.samEdge.state.mask.prompt})")


def open_image(page, path: Path) -> dict:
    """Choose ``path`` in the page's file picker; returns the page's image record once it is shown."""
    generation = page.evaluate("window.samEdge.state.generation")
    page.set_input_files("#file", str(path))
    page.wait_for_function(
        "(g) => window.samEdge.state.image !== null && window.samEdge.state.image.generation > g",
        arg=generation,
        timeout=WAIT_MS,
    )
    return page.evaluate("(({id, width, height, name}) => ({id, width, height, name}))(window.samEdge.state.image)")


def top_mask(client, image_id: str, body: dict) -> np.ndarray:
    """The server's top-scored mask for a predict body, over HTTP (sam_edge.client): bool [H, W]."""
    result = client.predict(image_id, **predict_arguments(body))
    best = max(result["masks"], key=lambda mask: mask["score"])
    return decode_mask(best)


def predict_arguments(body: dict) -> dict:
    """A predict body as SamEdgeClient.predict's keyword arguments."""
    return {
        "points": body.get("points"),
        "labels": body.get("labels"),
        "box": body.get("box"),
        "multimask": body["multimask"],
    }


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def message(page) -> str | None:
    """The text of the page's message element, or None while it is hidden."""
    element = page.locator("#message")
    return None if element.get_attribute("hidden") is not None else element.text_content()


def wait_message(page, start: str) -> str:
    """Wait for the message element to show a text beginning with ``start``; returns the text."""
    page.wait_for_function(
        "(start) => { const m = document.querySelector('#message');"
        " return !m.hidden && m.textContent.startsWith(start); }",
        arg=start,
        timeout=WAIT_MS,
    )
    return message(page)


def screenshot(page, name: str) -> None:
    """docs/images/demo-NAME.png of the page, only with SAM_EDGE_SCREENSHOTS=1."""
    if not SCREENSHOTS:
        return
    target = REPO / "docs" / "images" / f"demo-{name}.png"
    data = page.screenshot(clip=SCREENSHOT_CLIP)
    # 256 colours keep the pictures ~4x smaller in the repository; the demo's flat colours survive it.
    picture = Image.open(io.BytesIO(data)).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    with atomic_output(target, suffix=".png") as temp:
        picture.save(temp, optimize=True)
