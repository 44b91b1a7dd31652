"""A real ``sam-edge serve`` on a loopback port for the serve tests, and plain-socket helpers to talk to it.

The server runs on a thread of the test process (uvicorn on a socket bound to 127.0.0.1, port 0) with
small limits, so every bound can be crossed cheaply; requests go over real TCP connections.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import socket
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from sam_edge.runtime.predictor import SamPredictor
from sam_edge.serve.app import BackgroundServer
from sam_edge.serve.settings import MiB, ServeSettings

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "assets" / "sample_scene.png"
THREADS = 2
SETTINGS = ServeSettings(
    port=0,
    threads=THREADS,
    max_image_pixels=4_000_000,
    max_body_bytes=6 * MiB,  # an embedding .npz is 4 MiB
    max_json_bytes=2 * MiB,
    max_frame_bytes=1 * MiB,  # the sample scene is a 525 KB PNG
    max_sessions=3,
    max_images=5,
    max_prompt_age_ms=10_000.0,  # the tests check answers, not timing: a loaded CI machine must not drop them
)


def start_server() -> BackgroundServer:
    """The test server, started (each test module's ``server`` fixture stops it)."""
    return BackgroundServer(SETTINGS).start()


def local_decoder() -> SamPredictor:
    """The in-process decoder the server's answers are compared with (same model and threads)."""
    return SamPredictor(with_encoder=False, threads=THREADS)


def sample_bytes() -> bytes:
    return SAMPLE.read_bytes()


def shifted_png(dx: int, dy: int = 0) -> bytes:
    """The sample scene moved by (dx, dy) pixels (edges repeated): a next video frame."""
    rgb = np.asarray(Image.open(SAMPLE).convert("RGB"))
    moved = np.roll(rgb, (dy, dx), axis=(0, 1))
    buffer = io.BytesIO()
    Image.fromarray(moved).save(buffer, format="PNG")
    return buffer.getvalue()


def request(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, decoded JSON or raw bytes) of one HTTP request on its own connection."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        kind = response.getheader("content-type", "")
        return response.status, (json.loads(data) if kind.startswith("application/json") else data)
    finally:
        connection.close()


def post_json(server, path: str, value) -> tuple[int, object]:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    return request(server, "POST", path, body, {"Content-Type": "application/json"})


def upload(server, data: bytes) -> dict:
    status, reply = request(server, "POST", "/v1/images", data)
    assert status == 200, reply
    return reply


def raw_exchange(server, head: bytes, body_part: bytes, read_timeout: float = 30.0) -> bytes:
    """Send ``head`` and ``body_part`` on a raw connection (not the whole body it may announce) and read
    what the server answers until it closes or stops sending."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout) as sock:
        sock.sendall(head + body_part)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                    break
        except (ConnectionResetError, socket.timeout):
            pass
        return b"".join(chunks)


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def websocket_handshake(server) -> socket.socket:
    """A raw WebSocket connection to /v1/stream, past the handshake (for frames cut off mid-message)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 101"), response[:200]
    return sock


def binary_frame_header(length: int) -> bytes:
    """The client-side header of one binary WebSocket message of ``length`` bytes (masked, FIN set)."""
    if length < 126:
        size = bytes([0x80 | length])
    elif length < 1 << 16:
        size = bytes([0x80 | 126]) + struct.pack(">H", length)
    else:
        size = bytes([0x80 | 127]) + struct.pack(">Q", length)
    return bytes([0x82]) + size + b"\0\0\0\0"  # mask key 0: the payload goes as it is
