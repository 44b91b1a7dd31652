"""Every setting of ``sam-edge serve`` in one frozen dataclass: model, address, threads and every bound.

Sizes are bytes, times milliseconds, coordinates original image pixels. Each limit bounds one thing a
client controls (docs/protocol.md, "Limits"); ``ServeSettings(...)`` refuses values outside their
range with a one-line InvalidInputError, so a server never starts with a limit it cannot keep.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sam_edge.runtime.errors import InvalidInputError

MiB = 1 << 20
DEFAULT_PORT = 8000


def _check_int(name: str, value, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be an integer within {low}..{high}; got {value!r}")


def _check_range(name: str, value, low: float, high: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be a number within {low:g}..{high:g}; got {value!r}")


@dataclass(frozen=True)
class GazeConfig:
    """The I-VT fixation filter's parameters (serve/fixation.py); a session may change them (``config``).

    A sample is part of a fixation when the gaze moved slower than ``velocity_threshold_deg_s``
    since the previous sample (pixels / ``px_per_degree`` per second); a run of such samples is a
    fixation once it spans ``min_fixation_ms``; a gap between samples over ``max_gap_ms`` ends it.
    Defaults: Tobii's I-VT (30 deg/s, 100 ms, gap fill 75 ms) and ~40 px per degree (a 24" 1080p
    screen at 60 cm; a headset's camera image has its own figure).
    """

    velocity_threshold_deg_s: float = 30.0
    px_per_degree: float = 40.0
    min_fixation_ms: float = 100.0
    max_gap_ms: float = 75.0

    def __post_init__(self) -> None:
        _check_range("velocity_threshold_deg_s", self.velocity_threshold_deg_s, 1e-3, 1e4)
        _check_range("px_per_degree", self.px_per_degree, 1e-3, 1e5)
        _check_range("min_fixation_ms", self.min_fixation_ms, 0.0, 1e4)
        _check_range("max_gap_ms", self.max_gap_ms, 1.0, 1e4)


@dataclass(frozen=True)
class ServeSettings:
    """What one ``sam-edge serve`` process runs and how much it accepts.

    ``model``: a model directory or bundled name (None: the bundled default). ``threads``: the
    decoder's CPU threads (None: physical cores or $SAM_EDGE_THREADS); ``encoder_threads`` the
    encoder's (None: one fewer than the decoder's, at least 1), its thread lowered by
    ``encoder_nice`` (Linux), so encodes take the CPU the decoder leaves.
    """

    model: str | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    threads: int | None = None
    encoder_threads: int | None = None
    encoder_nice: int = 5
    max_image_pixels: int = 4096 * 4096  # uploaded images and video frames, checked from the header
    max_body_bytes: int = 32 * MiB  # POST /v1/images, POST /v1/embeddings
    max_json_bytes: int = 4 * MiB  # POST .../predict (a mask_input of 256 x 256 numbers fits)
    max_frame_bytes: int = 8 * MiB  # one binary WebSocket message (a video frame)
    max_message_bytes: int = 64 * 1024  # one text WebSocket message
    max_sessions: int = 16  # open WebSocket sessions
    max_images: int = 16  # embeddings kept (least recently used dropped)
    max_pending_encodes: int = 8  # uploads waiting for the encoder
    max_connections: int = 64  # concurrent HTTP + WebSocket connections (uvicorn answers 503 beyond)
    max_points: int = 32  # points in one prompt
    max_prompt_age_ms: float = 200.0  # a stream prompt older than this when the decoder is free is dropped
    gaze: GazeConfig = GazeConfig()

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise InvalidInputError(f"host must be an address such as 127.0.0.1; got {self.host!r}")
        _check_int("port", self.port, 0, 65535)
        for name in ("threads", "encoder_threads"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1, 1024)
        _check_int("encoder_nice", self.encoder_nice, 0, 19)
        for name in ("max_image_pixels", "max_body_bytes", "max_json_bytes", "max_frame_bytes", "max_message_bytes"):
            _check_int(name, getattr(self, name), 1, 1 << 40)
        for name in ("max_sessions", "max_images", "max_pending_encodes", "max_connections", "max_points"):
            _check_int(name, getattr(self, name), 1, 1 << 20)
        _check_range("max_prompt_age_ms", self.max_prompt_age_ms, 1.0, 1e6)
        if not isinstance(self.gaze, GazeConfig):
            raise InvalidInputError(f"gaze must be a GazeConfig; got {type(self.gaze).__name__}")

    @property
    def transport_frame_bytes(self) -> int:
        """The WebSocket message size at which the connection itself is closed (code 1009): twice the
        frame limit, so a frame somewhat over ``max_frame_bytes`` still gets an error message."""
        return 2 * max(self.max_frame_bytes, self.max_message_bytes) + 4096

    def limits(self) -> dict:
        """The client-facing bounds, as ``GET /v1/info`` reports them."""
        names = (
            "max_image_pixels",
            "max_body_bytes",
            "max_json_bytes",
            "max_frame_bytes",
            "max_message_bytes",
            "max_sessions",
            "max_images",
            "max_pending_encodes",
            "max_connections",
            "max_points",
            "max_prompt_age_ms",
        )
        record = {name: getattr(self, name) for name in names}
        record["transport_frame_bytes"] = self.transport_frame_bytes
        record["gaze_defaults"] = asdict(self.gaze)
        return record
