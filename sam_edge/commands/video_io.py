"""Video files for ``sam-edge track``: probe and decode frames, write the overlay video (PyAV, the ``video`` extra).

PyAV is imported only here and only when a command needs it; without it every entry point raises one
line naming the extra. Frames are RGB uint8 [H, W, 3] numpy arrays in the video's own pixel frame
(x right, y down); times are seconds from the start of the stream.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from sam_edge.runtime.errors import InputFileError, InvalidInputError
from sam_edge.runtime.small_regions import MissingDependencyError

VIDEO_EXTRA_HINT = 'sam-edge track needs the video extra: pip install "sam-edge[video]"'
ACCEPTED = "accepted are video files FFmpeg decodes, such as MP4, MKV, MOV, AVI or WebM"
OVERLAY_CODECS = ("libx264", "mpeg4")  # H.264 where the FFmpeg build has it, else MPEG-4 part 2


def require_av():
    """The ``av`` module, or a one-line MissingDependencyError naming the extra to install."""
    try:
        import av
    except ImportError:
        raise MissingDependencyError(VIDEO_EXTRA_HINT) from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe_video`` read: frame ``size`` (H, W) of the first video stream, ``fps``, ``frames`` (packets)."""

    path: Path
    size: tuple[int, int]
    fps: Fraction
    frames: int


def probe_video(path: str | Path, max_pixels: int | None) -> VideoInfo:
    """Open ``path``, check it holds a video stream of at most ``max_pixels`` pixels per frame, count its frames.

    The count is the stream's own when the container records it, else its packets (no frame is decoded).
    """
    av, path = require_av(), Path(path)
    with _open(av, path) as container:
        stream = _video_stream(container, path)
        height, width = int(stream.codec_context.height), int(stream.codec_context.width)
        if height < 1 or width < 1:
            raise InvalidInputError(f"'{path}' has a video stream without a frame size; {ACCEPTED}")
        if max_pixels is not None and height * width > max_pixels:
            raise InvalidInputError(
                f"'{path}' has {width}x{height} = {height * width:,} pixel frames, above the limit of "
                f"{max_pixels:,} pixels; pass a larger --max-pixels N"
            )
        fps = Fraction(stream.average_rate or stream.guessed_rate or 25)
        frames = int(stream.frames) or _count_packets(av, container, stream, path)
    return VideoInfo(path, (height, width), fps, frames)


def read_frames(path: str | Path) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, time in seconds, RGB uint8 [H, W, 3]) of every frame of the first video stream, in order."""
    av, path = require_av(), Path(path)
    with _open(av, path) as container:
        stream = _video_stream(container, path)
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        index = 0
        try:
            for frame in container.decode(stream):
                time_s = frame.time if frame.time is not None else index / fps
                yield index, float(time_s), frame.to_ndarray(format="rgb24")
                index += 1
        except av.error.FFmpegError as error:
            raise InvalidInputError(
                f"video file '{path}' is corrupt after frame {index} ({_reason(error)}); give a complete video file"
            ) from None


class OverlayVideo:
    """An MP4 of RGB frames at ``fps`` (H.264, yuv420p). Sides must be even for yuv420p, so a frame of odd
    height or width loses its last row or column here (masks.json keeps the full frame)."""

    def __init__(self, path: str | Path, size: tuple[int, int], fps: Fraction) -> None:
        av = require_av()
        self._av = av
        self.height, self.width = (side - side % 2 for side in size)
        if self.height < 2 or self.width < 2:
            raise InvalidInputError(f"frames of {size[1]}x{size[0]} pixels are too small for an overlay video")
        self._container = av.open(str(path), "w", format="mp4")
        codec = next(name for name in OVERLAY_CODECS if name in av.codecs_available)
        self._stream = self._container.add_stream(codec, rate=fps)
        self._stream.width, self._stream.height, self._stream.pix_fmt = self.width, self.height, "yuv420p"
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB uint8 [H, W, 3] frame (cropped to the even size; resized if the video's size changed)."""
        rgb = np.ascontiguousarray(rgb[: self.height, : self.width])
        frame = self._av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame = frame.reformat(width=self.width, height=self.height, format="yuv420p")
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        self._container.mux(self._stream.encode(None))
        self._container.close()


def _open(av, path: Path):
    """``av.open(path)`` with its failures as one-line InputFileError / InvalidInputError."""
    if path.is_dir():
        raise InputFileError(f"'{path}' is a directory; give the path of a video file")
    try:
        return av.open(str(path))
    except av.error.FFmpegError as error:
        if isinstance(error, FileNotFoundError) or getattr(error, "errno", None) in (errno.ENOENT, errno.EACCES):
            raise InputFileError(
                f"cannot open video file '{path}': {_reason(error)}; give the path of an existing, readable video file"
            ) from None
        raise InvalidInputError(f"'{path}' is not a video PyAV can read ({_reason(error)}); {ACCEPTED}") from None


def _video_stream(container, path: Path):
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams}) or ["none"]
        raise InvalidInputError(f"'{path}' has no video stream (streams: {', '.join(kinds)}); {ACCEPTED}")
    return container.streams.video[0]


def _count_packets(av, container, stream, path: Path) -> int:
    try:
        count = sum(1 for packet in container.demux(stream) if packet.size)
    except av.error.FFmpegError as error:
        raise InvalidInputError(
            f"video file '{path}' is corrupt ({_reason(error)}); give a complete video file"
        ) from None
    return count


def _reason(error: Exception) -> str:
    """FFmpeg's own words for an error, without the file name PyAV appends."""
    return str(getattr(error, "strerror", None) or error).split(": '")[0]
