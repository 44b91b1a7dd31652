"""A small client for ``sam-edge serve`` (the contract is docs/protocol.md).

HTTP uses the standard library only; the WebSocket session needs the ``websockets`` package (in the
``serve`` extra)::

    from sam_edge.client import SamEdgeClient, decode_mask

    client = SamEdgeClient("http://127.0.0.1:8000")
    image = client.upload_image("assets/sample_scene.png")     # {"image_id", "width", "height", "encode_ms", ...}
    result = client.predict(image["image_id"], points=[[208, 185]], labels=[1])
    mask = decode_mask(result["masks"][0])                     # bool [H, W], original image frame

    with client.stream() as stream:                            # WebSocket /v1/stream
        stream.select_image(image["image_id"])
        stream.point(208, 185, id="click-1")
        reply = stream.receive()                               # {"type": "mask", "id": "click-1", "rle", ...}

Coordinates are original image pixels (x right, y down); masks come back as COCO RLE in that frame.
Server errors raise ``ServerError`` (HTTP) or arrive as ``{"type": "error"}`` messages (stream).
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path

import numpy as np

from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.errors import SamEdgeError
from sam_edge.runtime.mask_stats import decode_rle


class ServerError(SamEdgeError):
    """An error answer of the server: ``status`` the HTTP status, the message its ``{"error"}`` line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def decode_mask(record: dict) -> np.ndarray:
    """The bool [H, W] mask of a mask record or message (its ``rle``: COCO compressed RLE)."""
    return decode_rle(record["rle"] if "rle" in record else record)


class SamEdgeClient:
    """HTTP calls to one server at ``url`` (e.g. http://127.0.0.1:8000); each waits at most ``timeout`` s."""

    def __init__(self, url: str = "http://127.0.0.1:8000", timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def health(self) -> bool:
        """True when ``GET /healthz`` answers 200."""
        try:
            return self._request("GET", "/healthz").get("status") == "ok"
        except (ServerError, OSError):
            return False

    def info(self) -> dict:
        """``GET /v1/info``: model id and type, engines, precision, threads, limits, current use."""
        return self._request("GET", "/v1/info")

    def upload_image(self, image: str | os.PathLike | bytes) -> dict:
        """Upload a PNG / JPEG / WebP (a path or the file's bytes) and encode it (or find it kept).

        Returns ``{"image_id", "width", "height", "encode_ms", "cached"}``; the same bytes always give
        the same image_id.
        """
        data = image if isinstance(image, (bytes, bytearray)) else Path(image).read_bytes()
        return self._request("POST", "/v1/images", bytes(data), "application/octet-stream")

    def predict(
        self,
        image_id: str,
        points=None,
        labels=None,
        box=None,
        multimask: bool = True,
        mask_input=None,
        return_logits: bool = False,
    ) -> dict:
        """Masks for one prompt on an uploaded image: ``points`` [[x, y], ...] with ``labels`` [1|0, ...]
        and/or ``box`` [x0, y0, x1, y1] (original pixels); ``mask_input`` low-res logits [1, 256, 256]
        (a previous answer's ``low_res_logits``, asked for with ``return_logits``).

        Returns ``{"masks": [{"rle", "score", "stability", "bbox", "area"}, ...], "decode_ms"}``:
        3 masks with ``multimask``, else 1.
        """
        body = {"multimask": multimask, "return_logits": return_logits}
        if points is not None:
            body["points"] = np.asarray(points, dtype=float).tolist()
            body["labels"] = [int(label) for label in np.asarray(labels).reshape(-1)]
        if box is not None:
            body["box"] = np.asarray(box, dtype=float).reshape(-1).tolist()
        if mask_input is not None:
            body["mask_input"] = np.asarray(mask_input, dtype=float).tolist()
        return self._request("POST", f"/v1/images/{image_id}/predict", json.dumps(body).encode(), "application/json")

    def embedding_bytes(self, image_id: str) -> bytes:
        """The image's embedding as an .npz file's bytes (``ImageEmbedding.save``'s format)."""
        return self._request("GET", f"/v1/images/{image_id}/embedding", raw=True)

    def embedding(self, image_id: str) -> ImageEmbedding:
        """The image's ImageEmbedding (embeddings [1, 256, 64, 64] float32, original and input sizes), to
        decode on this side with ``SamPredictor(with_encoder=False).set_image_embedding``."""
        with tempfile.TemporaryDirectory(prefix="sam-edge-client-") as folder:
            path = Path(folder) / "embedding.npz"
            path.write_bytes(self.embedding_bytes(image_id))
            return ImageEmbedding.load(path)

    def register_embedding(self, embedding: ImageEmbedding | str | os.PathLike | bytes) -> dict:
        """Register an embedding of the server's model (an ImageEmbedding, an .npz path or its bytes);
        returns ``{"image_id", "width", "height"}``."""
        if isinstance(embedding, ImageEmbedding):
            with tempfile.TemporaryDirectory(prefix="sam-edge-client-") as folder:
                data = embedding.save(Path(folder) / "embedding.npz").read_bytes()
        else:
            data = embedding if isinstance(embedding, (bytes, bytearray)) else Path(embedding).read_bytes()
        return self._request("POST", "/v1/embeddings", bytes(data), "application/octet-stream")

    def stream(self, open_timeout: float = 30.0) -> "StreamSession":
        """A WebSocket session on ``/v1/stream`` (use as a context manager)."""
        return StreamSession(self.url.replace("http", "ws", 1) + "/v1/stream", open_timeout)

    def _request(self, method: str, path: str, data: bytes | None = None, content_type: str | None = None, raw=False):
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            raise ServerError(error.code, _error_line(error.read())) from None
        return body if raw else json.loads(body)


class StreamSession:
    """One ``/v1/stream`` session: send gaze, prompts and frames; ``receive`` the server's messages.

    ``ready`` is the server's first message (model id, limits). Replies to ``select_image``,
    ``config`` and ``track`` are waited for (an error answering one is returned as it came); masks and
    frame messages that arrive meanwhile are kept for ``receive``. Sending and receiving may run on
    two threads (the ``websockets`` sync client allows it).
    """

    def __init__(self, url: str, open_timeout: float = 30.0) -> None:
        try:
            from websockets.sync.client import connect
        except ImportError:
            raise SamEdgeError('the stream client needs websockets: pip install "sam-edge[serve]"') from None
        from websockets.exceptions import InvalidStatus

        try:
            self.connection = connect(url, open_timeout=open_timeout, max_size=None)
        except InvalidStatus as error:  # the server refused the session (503 at its session limit)
            response = error.response
            raise ServerError(response.status_code, _error_line(response.body or b"")) from None
        self._kept: deque[dict] = deque()
        self.ready = self.receive()

    def select_image(self, image_id: str) -> dict:
        """Make an uploaded image the session's current one: ``{"type": "image", "image_id", "width", "height"}``."""
        return self._ask({"type": "image", "image_id": image_id})

    def config(self, **fields) -> dict:
        """Change the gaze filter (velocity_threshold_deg_s, px_per_degree, min_fixation_ms, max_gap_ms) or
        ``multimask``; returns the session's settings now."""
        return self._ask({"type": "config", **fields})

    def track(self, on: bool = True) -> dict:
        """Carry the current mask across new frames (or stop): ``{"type": "track", "on", "active"}``."""
        return self._ask({"type": "track", "on": bool(on)})

    def gaze(self, t: float, x: float, y: float) -> None:
        """One gaze sample (t ms on the client's clock, x, y pixels); a new fixation brings a mask message."""
        self.send({"type": "gaze", "t": float(t), "x": float(x), "y": float(y)})

    def point(self, x: float, y: float, label: int = 1, id=None) -> None:
        """A click; answered by a mask message with the same ``id`` (unless a newer prompt wins)."""
        self.send({"type": "point", "x": float(x), "y": float(y), "label": int(label), "id": id})

    def box(self, box, id=None) -> None:
        """A box [x0, y0, x1, y1]; answered by a mask message with the same ``id``."""
        self.send({"type": "box", "box": [float(v) for v in box], "id": id})

    def frame(self, data: bytes) -> None:
        """A video frame: the bytes of a PNG / JPEG / WebP file; answered by a frame message (or dropped)."""
        self.connection.send(bytes(data))

    def send(self, message: dict) -> None:
        self.connection.send(json.dumps(message))

    def receive(self, timeout: float | None = None) -> dict:
        """The next message from the server (kept ones first); TimeoutError after ``timeout`` s."""
        if self._kept:
            return self._kept.popleft()
        return json.loads(self.connection.recv(timeout=timeout))

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "StreamSession":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _ask(self, message: dict, timeout: float = 60.0) -> dict:
        """Send and wait for the reply of the same type (or the error answering it); others are kept."""
        self.send(message)
        while True:
            reply = json.loads(self.connection.recv(timeout=timeout))
            if reply.get("type") == message["type"] or (
                reply.get("type") == "error" and reply.get("in_reply_to") == message["type"]
            ):
                return reply
            self._kept.append(reply)


def _error_line(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace") or "no message"
