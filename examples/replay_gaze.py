"""Replay a recorded gaze trace against ``sam-edge serve``: one mask per fixation, printed as it arrives.

    sam-edge serve &                                            # in another terminal
    python examples/replay_gaze.py trace.csv --image assets/sample_scene.png
    python examples/replay_gaze.py trace.csv --video clip.mp4   # frames too, with tracking (needs PyAV)
    python examples/replay_gaze.py --write-trace trace.csv      # a synthetic 120 Hz trace to start from

The CSV holds ``t, x, y`` per line (milliseconds, original image pixels; a header line is skipped).
Samples are sent at their recorded times (``--speed 2`` replays twice as fast); with ``--video``
each frame is sent at its presentation time and tracking is switched on after the first fixation's
mask, so the mask follows the object between fixations. ``--out masks.jsonl`` keeps every message.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

from sam_edge.client import SamEdgeClient
from sam_edge.runtime.atomic_write import atomic_output


def read_trace(path: Path) -> list[tuple[float, float, float]]:
    """(t ms, x, y) rows of a CSV; rows that are not three numbers (a header) are skipped."""
    rows = []
    with open(path, newline="") as file:
        for row in csv.reader(file):
            try:
                rows.append(tuple(float(value) for value in row[:3]))
            except (ValueError, IndexError):
                continue
    return [row for row in rows if len(row) == 3]


def write_trace(path: Path, seconds: float = 10.0, size: tuple[int, int] = (480, 640), seed: int = 0) -> None:
    """A synthetic 120 Hz trace: fixations of 250-450 ms on random spots, 3-sample saccades between."""
    rng, step, t = np.random.default_rng(seed), 1000 / 120, 0.0
    x, y, lines = size[1] / 2, size[0] / 2, ["t,x,y"]
    while t < seconds * 1000:
        for _ in range(int(rng.uniform(250, 450) / step)):
            lines.append(f"{t:.1f},{x + rng.normal(0, 0.3):.2f},{y + rng.normal(0, 0.3):.2f}")
            t += step
        nx, ny = rng.uniform(40, size[1] - 40), rng.uniform(40, size[0] - 40)
        for fraction in (0.25, 0.5, 0.75):
            lines.append(f"{t:.1f},{x + (nx - x) * fraction:.2f},{y + (ny - y) * fraction:.2f}")
            t += step
        x, y = nx, ny
    with atomic_output(path, suffix=".csv") as temp:
        temp.write_text("\n".join(lines) + "\n")


def video_frames(path: Path):
    """(time ms, JPEG bytes) of each frame of a video file (PyAV)."""
    import av  # optional: the video extra, or pip install av
    from PIL import Image

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            buffer = io.BytesIO()
            Image.fromarray(frame.to_ndarray(format="rgb24")).save(buffer, format="JPEG", quality=90)
            yield float(frame.time or 0.0) * 1000, buffer.getvalue()


def replay(args: argparse.Namespace) -> list[dict]:
    trace = read_trace(args.trace)
    if not trace:
        raise SystemExit(f"{args.trace} holds no t,x,y rows")
    client = SamEdgeClient(args.url)
    received: list[dict] = []
    with client.stream() as stream:
        events = [(t, "gaze", (t, x, y)) for t, x, y in trace]
        if args.video:
            events += [(t, "frame", data) for t, data in video_frames(args.video)]
        else:
            image = client.upload_image(args.image)
            stream.select_image(image["image_id"])
            print(f"image {image['image_id']} {image['width']}x{image['height']}, encoded in {image['encode_ms']} ms")
        events.sort(key=lambda event: (event[0], event[1] != "frame"))  # a frame before the gaze on it
        reader = threading.Thread(target=print_messages, args=(stream, received, args.video is not None), daemon=True)
        reader.start()
        origin, first_t = time.monotonic(), events[0][0]
        for t, kind, payload in events:
            delay = origin + (t - first_t) / 1000 / args.speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if kind == "frame":
                stream.frame(payload)
            elif not args.video or received:  # gaze on a video waits for its first frame
                stream.gaze(*payload)
        time.sleep(2.0)  # the last answers
    return received


def print_messages(stream, received: list[dict], tracking: bool) -> None:
    """Print masks (and errors, every 30th frame) until the session closes; start tracking after the
    first gaze mask of a video."""
    tracking_on = False
    while True:
        try:
            message = stream.receive(timeout=1.0)
        except TimeoutError:
            continue
        except Exception:  # the session closed
            return
        received.append(message)
        kind = message["type"]
        if kind == "mask":
            where = f"t {message['t']:.0f} ms at ({message['x']:.0f}, {message['y']:.0f})" if "t" in message else ""
            frame = f"frame {message['frame_id']}" if "frame_id" in message else ""
            print(
                f"mask  {message['source']:5s} {where or frame}: area {message['area']} px, score "
                f"{message['score']:.3f}, {message.get('latency_ms', 0):.0f} ms after its sample"
            )
            if tracking and message["source"] == "gaze" and not tracking_on:
                stream.send({"type": "track", "on": True})
                tracking_on = True
        elif kind == "error" or (kind == "frame" and message["frame_id"] % 30 == 0):
            print(json.dumps(message))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace", type=Path, nargs="?", help="CSV of t (ms), x, y (pixels)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--image", type=Path, help="the image the gaze was recorded on")
    source.add_argument("--video", type=Path, help="a video file whose frames are sent too (needs PyAV)")
    source.add_argument("--write-trace", type=Path, metavar="CSV", help="write a synthetic 10 s trace and stop")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server (default: %(default)s)")
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed (default: 1, real time)")
    parser.add_argument("--out", type=Path, help="write every message received as JSON lines")
    args = parser.parse_args(argv)
    if args.write_trace:
        write_trace(args.write_trace)
        print(f"wrote {args.write_trace}")
        return 0
    if args.trace is None or (args.image is None and args.video is None) or args.speed <= 0:
        parser.error("give a trace and --image or --video (or --write-trace CSV); --speed > 0")
    if args.video is not None:
        try:
            import av  # noqa: F401
        except ImportError:
            print("video replay needs PyAV: pip install av (or replay against --image)", file=sys.stderr)
            return 2
    received = replay(args)
    print(f"{sum(m['type'] == 'mask' for m in received)} masks, {sum(m['type'] == 'error' for m in received)} errors")
    if args.out:
        with atomic_output(args.out, suffix=".jsonl") as temp:
            temp.write_text("".join(json.dumps(message) + "\n" for message in received))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
