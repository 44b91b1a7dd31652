"""Load test of ``sam-edge serve`` on the loopback: HTTP overhead, gaze latency, video frame rate and memory.

``python -m sam_edge.bench.serve_bench --seconds 60 --clients 8 --out serve_bench.json`` starts a
server in a subprocess (``sam-edge serve --port 0``), runs the phases below against it and stops it.
Everything is bounded: each phase runs ``--seconds`` (at most 600), at most 64 clients, at most 2000
HTTP rounds; the server is stopped (SIGINT, then killed) whatever happens.

- ``http``: one prompt alternately over HTTP (``POST .../predict``, a kept-alive connection) and
  in-process (``SamPredictor.predict`` on the server's own embedding, same model and threads):
  p50 of each and the difference, the cost of the service;
- ``gaze``: 1 client, then ``--clients`` clients, each streaming a synthetic 120 Hz gaze trace
  (fixations of 250-450 ms, 3-sample saccades) on one image: masks received, gaze-to-mask latency
  (client clock, from sending the sample that completed the fixation) p50 / p95, the oldest prompt
  the server decoded (its ``queue_ms``), prompts dropped, errors;
- ``video``: one client sending 30 fps JPEG frames with tracking on: frames encoded per second,
  mask age (frame sent to its mask received) p50 / p95, and the server's resident memory: its peak in
  the second half of the run against the first half, after a warm-up (and the per-second series).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from sam_edge.bench.scenarios import make_image
from sam_edge.runtime.atomic_write import atomic_output

PHASES = ("http", "gaze", "video")
MAX_SECONDS, MAX_CLIENTS, MAX_HTTP_ROUNDS = 600.0, 64, 2000
IMAGE_SIZE = (480, 640)
GAZE_HZ, VIDEO_FPS = 120.0, 30.0
WARM_UP_S = 10.0  # seconds of video after which the server's memory should stay flat


def start_server(model: str | None, threads: int | None) -> tuple[subprocess.Popen, str]:
    """``sam-edge serve --port 0`` in a subprocess; returns it and its URL once it listens."""
    command = [sys.executable, "-m", "sam_edge", "serve", "--port", "0"]
    command += ["--model", model] if model else []
    command += ["--threads", str(threads)] if threads else []
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()  # the announce line, printed once the models are loaded
    if "listening on " not in line:
        stop_server(process)
        raise RuntimeError(f"sam-edge serve did not start: {line.strip() or 'no output'}")
    return process, line.split("listening on ")[1].split()[0]


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def resident_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc; 0.0 where unavailable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def percentile(values: list[float], q: float) -> float | None:
    return None if not values else round(float(np.percentile(values, q)), 3)


def png_bytes(rgb: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt, quality=85)
    return buffer.getvalue()


def http_phase(url: str, seconds: float, model: str | None, threads: int | None) -> dict:
    from sam_edge.client import SamEdgeClient
    from sam_edge.runtime.predictor import SamPredictor

    client = SamEdgeClient(url)
    image_id = client.upload_image(png_bytes(make_image(IMAGE_SIZE)))["image_id"]
    # Configured as the server's decoder is (no spin-waiting): a spinning pool here would take the
    # cores from the server's decode that follows it, and the difference would not be HTTP's.
    local = SamPredictor(model, with_encoder=False, threads=threads, spin_wait=False)
    local.set_image_embedding(client.embedding(image_id))
    point = [[IMAGE_SIZE[1] * 0.4, IMAGE_SIZE[0] * 0.45]]
    body = json.dumps({"points": point, "labels": [1]})
    host, port = url.split("//")[1].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    remote, in_process, server_decode, deadline = [], [], [], time.monotonic() + seconds
    for round_index in range(MAX_HTTP_ROUNDS):
        if time.monotonic() > deadline and len(remote) >= 3:
            break
        started = time.perf_counter()
        connection.request("POST", f"/v1/images/{image_id}/predict", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        reply = response.read()
        elapsed = (time.perf_counter() - started) * 1e3
        assert response.status == 200, response.status
        started = time.perf_counter()
        local.predict(point, [1])
        local_ms = (time.perf_counter() - started) * 1e3
        if round_index >= 2:  # two warm-up rounds each
            remote.append(elapsed)
            in_process.append(local_ms)
            server_decode.append(json.loads(reply)["decode_ms"])
    connection.close()
    p50_http, p50_local = percentile(remote, 50), percentile(in_process, 50)
    overhead = None if p50_http is None else round(p50_http - p50_local, 3)
    return {
        "rounds": len(remote),
        "http_p50_ms": p50_http,
        "in_process_p50_ms": p50_local,
        "overhead_p50_ms": overhead,
        # the server's own decoder-thread time of each request: splits the overhead into transport
        # (http - server decode) and decoding in another process (server decode - in-process)
        "server_decode_p50_ms": percentile(server_decode, 50),
    }


def gaze_trace(seconds: float, seed: int):
    """(t ms, x, y) at 120 Hz: fixations of 250-450 ms at random spots, 3-sample saccades between."""
    rng = np.random.default_rng(seed)
    step, t, samples = 1000.0 / GAZE_HZ, 0.0, []
    x, y = IMAGE_SIZE[1] / 2, IMAGE_SIZE[0] / 2
    while t < seconds * 1000:
        for _ in range(int(rng.uniform(250, 450) / step)):
            samples.append((t, x + rng.normal(0, 0.3), y + rng.normal(0, 0.3)))
            t += step
        nx, ny = rng.uniform(40, IMAGE_SIZE[1] - 40), rng.uniform(40, IMAGE_SIZE[0] - 40)
        for fraction in (0.25, 0.5, 0.75):
            samples.append((t, x + (nx - x) * fraction, y + (ny - y) * fraction))
            t += step
        x, y = nx, ny
    return [(t, float(np.clip(x, 0, IMAGE_SIZE[1])), float(np.clip(y, 0, IMAGE_SIZE[0]))) for t, x, y in samples]


def gaze_client(url: str, image_id: str, seconds: float, seed: int, results: list) -> None:
    from sam_edge.client import SamEdgeClient

    record = {"masks": 0, "errors": 0, "dropped": 0, "latency_ms": [], "queue_ms": []}
    sent: dict[float, float] = {}
    with SamEdgeClient(url).stream() as stream:
        stream.select_image(image_id)
        done = threading.Event()

        def receive() -> None:
            while True:
                try:
                    message = stream.receive(timeout=1.0)
                except TimeoutError:
                    if done.is_set():
                        return
                    continue
                if message["type"] == "error":
                    record["errors"] += 1
                elif message["type"] == "mask":
                    record["masks"] += 1
                    record["dropped"] += message["dropped"]
                    record["queue_ms"].append(message["queue_ms"])
                    if message["t"] in sent:
                        record["latency_ms"].append((time.monotonic() - sent[message["t"]]) * 1e3)

        reader = threading.Thread(target=receive, daemon=True)
        reader.start()
        origin = time.monotonic()
        for t, x, y in gaze_trace(seconds, seed):
            delay = origin + t / 1000 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent[t] = time.monotonic()
            stream.gaze(t, x, y)
        done.set()
        reader.join(timeout=10)
    results.append(record)


def gaze_phase(url: str, seconds: float, clients: int) -> dict:
    from sam_edge.client import SamEdgeClient

    image_id = SamEdgeClient(url).upload_image(png_bytes(make_image(IMAGE_SIZE, seed=1)))["image_id"]
    results: list[dict] = []
    threads = [
        threading.Thread(target=gaze_client, args=(url, image_id, seconds, seed, results), daemon=True)
        for seed in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    latency = [v for r in results for v in r["latency_ms"]]
    queue = [v for r in results for v in r["queue_ms"]]
    return {
        "clients": clients,
        "finished": len(results),
        "masks": sum(r["masks"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "dropped": sum(r["dropped"] for r in results),
        "latency_p50_ms": percentile(latency, 50),
        "latency_p95_ms": percentile(latency, 95),
        "oldest_decoded_ms": None if not queue else round(max(queue), 3),
    }


def video_phase(url: str, seconds: float, pid: int) -> dict:
    from sam_edge.client import SamEdgeClient

    base = make_image(IMAGE_SIZE, seed=2)
    frames = [png_bytes(np.roll(base, 4 * i, axis=1), "JPEG") for i in range(30)]
    sent: dict[int, float] = {}
    encoded, ages, memory = [], [], []
    with SamEdgeClient(url).stream() as stream:
        stream.frame(frames[0])
        first = stream.receive(timeout=120)
        stream.point(IMAGE_SIZE[1] * 0.4, IMAGE_SIZE[0] * 0.45, id="target")
        while stream.receive(timeout=120).get("id") != "target":
            pass
        stream.track(True)
        done = threading.Event()

        def receive() -> None:
            while not done.is_set():
                try:
                    message = stream.receive(timeout=1.0)
                except TimeoutError:
                    continue
                now = time.monotonic()
                if message["type"] == "frame":
                    encoded.append(now)
                elif message["type"] == "mask" and message.get("frame_id") in sent:
                    ages.append((now - sent[message["frame_id"]]) * 1e3)

        reader = threading.Thread(target=receive, daemon=True)
        reader.start()
        origin, frame_id = time.monotonic(), first["frame_id"] + 1
        while time.monotonic() - origin < seconds:
            if not memory or time.monotonic() - memory[-1][0] >= 1.0:
                memory.append((time.monotonic(), resident_mib(pid)))
            sent[frame_id] = time.monotonic()
            stream.frame(frames[frame_id % len(frames)])
            frame_id += 1
            time.sleep(max(0.0, origin + (frame_id - first["frame_id"]) / VIDEO_FPS - time.monotonic()))
        time.sleep(1.0)  # the last frame's answers
        done.set()
        reader.join(timeout=10)
    start_mib, end_mib = memory[0][1], resident_mib(pid)
    # The resident size swings with each encode (onnxruntime's arenas grow and shrink back), so
    # flatness compares the peaks of the two halves after a warm-up rather than two single samples.
    steady = [mib for at, mib in memory if at - memory[0][0] >= WARM_UP_S]
    half = len(steady) // 2
    first_peak, second_peak = (max(part) if part else 0.0 for part in (steady[:half], steady[half:]))
    return {
        "frames_sent": frame_id - first["frame_id"] - 1,
        "frames_encoded_per_s": round(len(encoded) / seconds, 2),
        "mask_age_p50_ms": percentile(ages, 50),
        "mask_age_p95_ms": percentile(ages, 95),
        "rss_start_mib": round(start_mib, 1),
        "rss_end_mib": round(end_mib, 1),
        "rss_growth_pct": None if not start_mib else round(100 * (end_mib - start_mib) / start_mib, 2),
        "rss_peak_first_half_mib": round(first_peak, 1),
        "rss_peak_second_half_mib": round(second_peak, 1),
        "rss_peak_growth_pct": None if not first_peak else round(100 * (second_peak - first_peak) / first_peak, 2),
        "rss_mib_per_second": [round(mib, 1) for _, mib in memory],
    }


def run_serve_bench(
    seconds: float = 10.0,
    clients: int = 8,
    model: str | None = None,
    threads: int | None = None,
    phases: tuple[str, ...] = PHASES,
) -> dict:
    """Start a server, run ``phases`` for ``seconds`` each, stop it; returns the report (see module docstring)."""
    seconds, clients = min(float(seconds), MAX_SECONDS), max(1, min(int(clients), MAX_CLIENTS))
    process, url = start_server(model, threads)
    report = {"url": url, "seconds": seconds, "clients": clients, "cpus": os.cpu_count()}
    try:
        if "http" in phases:
            report["http"] = http_phase(url, seconds, model, threads)
        if "gaze" in phases:
            report["gaze_1"] = gaze_phase(url, seconds, 1)
            if clients > 1:
                report[f"gaze_{clients}"] = gaze_phase(url, seconds, clients)
        if "video" in phases:
            report["video"] = video_phase(url, seconds, process.pid)
    finally:
        stop_server(process)
    return report


def format_report(report: dict) -> str:
    lines = [f"sam-edge serve load test: {report['seconds']:g} s per phase, {report['cpus']} CPUs, {report['url']}"]
    for phase, values in report.items():
        if isinstance(values, dict):
            shown = {key: value for key, value in values.items() if not isinstance(value, list)}
            lines.append(f"  {phase:8s} " + ", ".join(f"{key} {value}" for key, value in shown.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sam_edge.bench.serve_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase (at most 600)")
    parser.add_argument("--clients", type=int, default=8, help="gaze clients of the many-client phase (at most 64)")
    parser.add_argument("--model", help="model directory or bundled name (default: the bundled model)")
    parser.add_argument("--threads", type=int, help="the server's decoder threads (default: physical cores)")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    parser.add_argument("--out", type=Path, default=Path("serve_bench.json"), help="where to write the JSON report")
    args = parser.parse_args(argv)
    phases = tuple(name for name in args.phases.split(",") if name)
    if not set(phases) <= set(PHASES) or args.seconds <= 0 or args.clients < 1:
        parser.error(f"--phases takes {','.join(PHASES)}; --seconds > 0; --clients >= 1")
    report = run_serve_bench(args.seconds, args.clients, args.model, args.threads, phases)
    print(format_report(report))
    with atomic_output(args.out, suffix=".json") as temp:
        temp.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
