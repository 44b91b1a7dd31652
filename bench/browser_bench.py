"""The browser demo measured in a real browser: hover round trip and the first mask of a newly opened image.

``python -m sam_edge.bench.browser_bench [--moves 100] [--images 3] [--threads N] [--json OUT]`` starts a
server on a loopback port (``BackgroundServer``, port 0) and headless Chromium driven by Playwright
(``pip install playwright``; Debian's ``/usr/bin/chromium``, or ``--chromium PATH``), and reads the
page's own timing samples (``window.samEdgeStats``, performance.now() in the page; docs/demo.md):

- hover: the mouse moves to ``--moves`` points along a path over a 640 x 480 scene, one at a time, each
  once the previous mask is drawn; the round trip is mouse move (the event's time stamp) to mask
  drawn (p50, p95), next to the server's decode time and the part spent outside the server (round
  trip minus the server's own latency_ms: the socket, the page's RLE decoding and drawing);
- first mask: with the pointer over the stage, ``--images`` new 1500 x 1000 scenes (never seen by the
  server) are opened one after the other; from the file chosen to the first mask drawn under the
  pointer, against the encode time the server reported for that image.

Figures are measured, never asserted (docs/demo.md holds a run and the targets it is judged against).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from PIL import Image

from sam_edge.bench.scenarios import hover_path, make_image
from sam_edge.bench.serve_bench import percentile
from sam_edge.runtime.atomic_write import atomic_output

CHROMIUM = "/usr/bin/chromium"
# Headless Chromium from Debian's package, offline: no sandbox (root in a container), no GPU, no
# background traffic or component updates.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream"]  # a generated camera; access still asks permission
VIEWPORT = {"width": 1280, "height": 900}
HOVER_SIZE = (480, 640)  # (H, W) of the hover scene
NEW_IMAGE_SIZE = (1000, 1500)  # (H, W) of the images opened for the first-mask figure
MAX_MOVES, MAX_IMAGES = 1000, 20
WAIT_MS = 60_000  # the longest wait for one mask


def launch_chromium(playwright, executable: str = CHROMIUM, camera: bool = False):
    """Headless Chromium (Debian's) through Playwright: ``playwright.chromium.launch`` with the offline flags."""
    args = CHROMIUM_ARGS + (FAKE_CAMERA_ARGS if camera else [])
    return playwright.chromium.launch(executable_path=executable, headless=True, args=args)


def open_demo(browser, url: str, **context_options):
    """A new page on the demo at ``url`` once it has read the server's info; returns (context, page)."""
    context = browser.new_context(viewport=VIEWPORT, **context_options)
    page = context.new_page()
    page.goto(url + "/")
    page.wait_for_function("window.samEdge && window.samEdge.state.info !== null", timeout=WAIT_MS)
    return context, page


def scene_file(directory: Path, size: tuple[int, int], seed: int) -> Path:
    """A PNG of ``make_image(size, seed)`` in ``directory`` (seeds differ: no server cache hit)."""
    path = directory / f"scene-{size[1]}x{size[0]}-{seed}.png"
    buffer = io.BytesIO()
    Image.fromarray(make_image(size, seed)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def stage_point(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image pixel (x, y) on the stage."""
    box = page.locator("#prompt-layer").bounding_box()
    width, height = page.evaluate("[window.samEdge.layers.width, window.samEdge.layers.height]")
    return box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height


def measure_hover(page, image: Path, moves: int) -> dict:
    """Open ``image``, then ``moves`` mouse moves along a path, each after the previous mask was drawn."""
    page.mouse.move(0, 0)  # off the stage: opening the image prompts nothing
    page.set_input_files("#file", str(image))
    page.wait_for_function("window.samEdge.state.image !== null", timeout=WAIT_MS)
    page.evaluate("window.samEdgeStats.reset()")
    for i, (x, y) in enumerate(hover_path(moves, HOVER_SIZE)):
        page.mouse.move(*stage_point(page, x, y))
        page.wait_for_function("(n) => window.samEdgeStats.hover.length >= n", arg=i + 1, timeout=WAIT_MS)
    samples = page.evaluate("window.samEdgeStats.hover")
    trips = [sample["round_trip_ms"] for sample in samples]
    decodes = [sample["decode_ms"] for sample in samples]
    page_side = [sample["round_trip_ms"] - sample["latency_ms"] for sample in samples]  # outside the server
    return {
        "moves": len(samples),
        "image": f"{HOVER_SIZE[1]}x{HOVER_SIZE[0]}",
        "round_trip_p50_ms": percentile(trips, 50),
        "round_trip_p95_ms": percentile(trips, 95),
        "decode_p50_ms": percentile(decodes, 50),
        "outside_server_p50_ms": percentile(page_side, 50),
    }


def measure_first_mask(page, images: list[Path]) -> dict:
    """Open each image with the pointer over the stage; the first mask drawn after each, against its encode."""
    page.mouse.move(*stage_point(page, HOVER_SIZE[1] / 2, HOVER_SIZE[0] / 2))
    page.evaluate("window.samEdgeStats.reset()")
    for i, image in enumerate(images):
        page.set_input_files("#file", str(image))
        page.wait_for_function("(n) => window.samEdgeStats.firstMask.length >= n", arg=i + 1, timeout=WAIT_MS)
    samples = page.evaluate("window.samEdgeStats.firstMask")
    firsts = [sample["ms"] for sample in samples]
    encodes = [sample["encode_ms"] for sample in samples]
    return {
        "images": len(samples),
        "image": f"{NEW_IMAGE_SIZE[1]}x{NEW_IMAGE_SIZE[0]}",
        "first_mask_ms": [round(value, 1) for value in firsts],
        "encode_ms": [round(value, 1) for value in encodes],
        "first_mask_p50_ms": percentile(firsts, 50),
        "encode_p50_ms": percentile(encodes, 50),
        "after_encode_p50_ms": percentile([f - e for f, e in zip(firsts, encodes)], 50),
        "upload_p50_ms": percentile([sample["upload_ms"] for sample in samples], 50),
        "select_p50_ms": percentile([sample["select_ms"] for sample in samples], 50),
        "first_decode_p50_ms": percentile([sample["decode_ms"] for sample in samples], 50),
    }


def run_browser_bench(
    moves: int = 100, images: int = 3, threads: int | None = None, model: str | None = None, chromium: str = CHROMIUM
) -> dict:
    """Both measurements on one server and one browser; returns the report (ms, performance.now() in the page)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("browser_bench needs Playwright: pip install playwright (and Debian's chromium)") from None
    from sam_edge.serve.app import BackgroundServer
    from sam_edge.serve.settings import ServeSettings

    with tempfile.TemporaryDirectory(prefix="sam-edge-browser-bench-") as scratch:
        hover_image = scene_file(Path(scratch), HOVER_SIZE, seed=1)
        seed0 = int.from_bytes(os.urandom(4), "little")  # new images each run: the server has never seen them
        new_images = [scene_file(Path(scratch), NEW_IMAGE_SIZE, seed0 + i) for i in range(images)]
        with BackgroundServer(ServeSettings(port=0, model=model, threads=threads)) as server, sync_playwright() as pw:
            browser = launch_chromium(pw, chromium)
            try:
                context, page = open_demo(browser, server.url)
                info = page.evaluate("window.samEdge.state.info")
                report = {
                    "browser": f"chromium {browser.version}",
                    "model": info["model"]["id"],
                    "engines": info["engines"],
                    "threads": info["threads"],
                    "cpus": os.cpu_count(),
                    "hover": measure_hover(page, hover_image, moves),
                    "first_mask": measure_first_mask(page, new_images),
                }
                context.close()
            finally:
                browser.close()
    return report


def format_report(report: dict) -> str:
    """The report as a table with the targets docs/demo.md judges it by."""
    hover, first = report["hover"], report["first_mask"]
    rows = [
        ("hover round trip p50", hover["round_trip_p50_ms"], "<= 60 ms"),
        ("hover round trip p95", hover["round_trip_p95_ms"], "<= 120 ms"),
        ("  server decode (p50)", hover["decode_p50_ms"], ""),
        ("  outside the server: socket, RLE decode, drawing (p50)", hover["outside_server_p50_ms"], ""),
        (f"first mask after opening {first['image']} (p50)", first["first_mask_p50_ms"], "<= encode + 300 ms"),
        ("encode of that image (p50)", first["encode_p50_ms"], ""),
        ("first mask - encode (p50)", first["after_encode_p50_ms"], "<= 300 ms"),
        ("  of which: upload answered (p50; holds the encode)", first["upload_p50_ms"], ""),
        ("  stream image selected (p50)", first["select_p50_ms"], ""),
        ("  server decode of the first mask (p50)", first["first_decode_p50_ms"], ""),
    ]
    threads = report["threads"]
    lines = [
        f"browser demo: {report['browser']}, model {report['model']} ({report['engines']['encoder']} encoder, "
        f"{threads['encoder']} + {threads['decoder']} threads), {report['cpus']} CPUs; "
        f"{hover['moves']} hover moves on {hover['image']}, {first['images']} new images",
        "",
        "| figure | ms | target |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {value:.1f} | {target} |" for name, value, target in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sam_edge.bench.browser_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--moves", type=int, default=100, help=f"hover moves (1..{MAX_MOVES})")
    parser.add_argument("--images", type=int, default=3, help=f"new 1500x1000 images opened (1..{MAX_IMAGES})")
    parser.add_argument("--threads", type=int, help="the server's decoder threads (default: physical cores)")
    parser.add_argument("--model", help="model directory or bundled name (default: the bundled model)")
    parser.add_argument("--chromium", default=CHROMIUM, help=f"the Chromium executable (default {CHROMIUM})")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    if not 1 <= args.moves <= MAX_MOVES or not 1 <= args.images <= MAX_IMAGES:
        parser.error(f"--moves takes 1..{MAX_MOVES} and --images 1..{MAX_IMAGES}")
    if not Path(args.chromium).exists():
        parser.error(f"no Chromium at {args.chromium}: apt-get install chromium, or pass --chromium PATH")
    report = run_browser_bench(args.moves, args.images, args.threads, args.model, args.chromium)
    print(format_report(report))
    if args.json is not None:
        with atomic_output(args.json, suffix=".json") as temp:
            temp.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
