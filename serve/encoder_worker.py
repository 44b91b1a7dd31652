"""The one encoder thread: uploads wait their turn, video frames are taken newest first, the rest dropped.

The encoder is the slow part (hundreds of ms per image on two cores), so it runs on a thread of its
own, one image at a time, and never holds the decoder up: the decoder is another thread with other
engine sessions (serve/decoder_worker.py). The encoder thread's priority is lowered (``nice``, Linux)
and its engine given fewer threads, so on a small CPU the decoder gets the cores whenever it works.

Two kinds of work, served alternately when both wait:

- uploads (``submit_image``): a decoded RGB image; a Future gets (ImageEmbedding, encode_ms). At most
  ``max_pending`` wait (EncoderBusy beyond: the server answers 503);
- frames: each stream session has a ``FrameSlot`` holding its newest undecoded frame. A frame that
  arrives before the previous one was taken replaces it (one more dropped); the worker decodes the
  bytes only of the frames it encodes and hands the result (or the error) to the slot's ``deliver``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

import numpy as np

from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.errors import SamEdgeError
from sam_edge.runtime.subnormals import flush_subnormals_on_this_thread
from sam_edge.serve.image_store import decode_image_bytes


class EncoderBusy(SamEdgeError, RuntimeError):
    """More uploads wait for the encoder than the server accepts."""


@dataclass(frozen=True)
class Frame:
    """A video frame as received: ``frame_id`` (per session, from 0), the image file's bytes, and the
    ``received`` time (time.monotonic, s)."""

    frame_id: int
    data: bytes
    received: float


@dataclass(frozen=True)
class EncodedFrame:
    """What the encoder made of a Frame: the embedding and encode time, or ``error`` (one line)."""

    frame_id: int
    received: float
    embedding: ImageEmbedding | None
    encode_ms: float
    error: str | None = None


class FrameSlot:
    """One session's newest frame waiting for the encoder (thread safe; ``put`` from any thread)."""

    def __init__(self, worker: "EncoderWorker", deliver: Callable[[EncodedFrame], None]) -> None:
        self._worker = worker
        self._deliver = deliver
        self._frame: Frame | None = None
        self.closed = False
        self.dropped = 0  # frames replaced before the encoder took them, over the slot's life

    def put(self, frame: Frame) -> bool:
        """Hand over ``frame``; returns True when it replaced a frame the encoder never took."""
        with self._worker.condition:
            if self.closed:
                return False
            replaced = self._frame is not None
            self.dropped += replaced
            self._frame = frame
            if not replaced:
                self._worker.ready_slots.append(self)
            self._worker.condition.notify()
        return replaced

    def close(self) -> None:
        """The session ended: its waiting frame is discarded and nothing more is delivered."""
        with self._worker.condition:
            self.closed, self._frame = True, None

    def _take(self) -> Frame | None:  # called by the worker with the condition held
        frame, self._frame = self._frame, None
        return None if self.closed else frame


class EncoderWorker:
    """Owns ``predictor``'s encoder (only ``predictor.encode`` is called, from this worker's thread)."""

    def __init__(self, predictor, max_image_pixels: int, max_pending: int, nice: int = 0) -> None:
        self.predictor = predictor
        self.max_image_pixels = max_image_pixels
        self.max_pending = max_pending
        self.nice = nice
        self.condition = threading.Condition()
        self.ready_slots: deque[FrameSlot] = deque()
        self._uploads: deque[tuple[np.ndarray, Future]] = deque()
        self._stopping = False
        self._frames_next = False
        self.encoded = 0  # images and frames encoded, over the worker's life
        self._thread = threading.Thread(target=self._run, name="sam-edge-encoder", daemon=True)
        self._thread.start()

    def submit_image(self, rgb: np.ndarray) -> Future:
        """Queue an HxWx3 uint8 image; the Future's result is (ImageEmbedding, encode_ms)."""
        future: Future = Future()
        with self.condition:
            if len(self._uploads) >= self.max_pending:
                raise EncoderBusy(f"the encoder has {len(self._uploads)} images waiting; try again shortly")
            self._uploads.append((rgb, future))
            self.condition.notify()
        return future

    def open_slot(self, deliver: Callable[[EncodedFrame], None]) -> FrameSlot:
        """A new session's frame slot; ``deliver`` is called on the worker thread with each EncodedFrame."""
        return FrameSlot(self, deliver)

    def pending_uploads(self) -> int:
        with self.condition:
            return len(self._uploads)

    def close(self) -> None:
        """Stop after the current encode; waiting uploads fail with EncoderBusy."""
        with self.condition:
            self._stopping = True
            self.condition.notify()
        self._thread.join(timeout=30)
        for _, future in self._uploads:
            future.set_exception(EncoderBusy("the server is shutting down"))

    def _run(self) -> None:
        _lower_priority(self.nice)
        # this thread is the server's own: its engine calls run here (keeping the lower priority)
        # instead of on each session's flushing thread (runtime/subnormals.py)
        flush_subnormals_on_this_thread()
        while True:
            with self.condition:
                while not self._stopping and not self._uploads and not self.ready_slots:
                    self.condition.wait()
                if self._stopping:
                    return
                take_frame = bool(self.ready_slots) and (self._frames_next or not self._uploads)
                self._frames_next = not take_frame
                if take_frame:
                    slot = self.ready_slots.popleft()
                    frame, upload = slot._take(), None
                else:
                    slot, frame, upload = None, None, self._uploads.popleft()
            if upload is not None:
                self._encode_upload(*upload)
            elif frame is not None:
                self._encode_frame(slot, frame)

    def _encode_upload(self, rgb: np.ndarray, future: Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(self._encode(rgb))
        except BaseException as error:  # handed to the waiting request, which answers it
            future.set_exception(error)

    def _encode_frame(self, slot: FrameSlot, frame: Frame) -> None:
        try:
            rgb = decode_image_bytes(frame.data, self.max_image_pixels, what="frame")
            embedding, encode_ms = self._encode(rgb)
            result = EncodedFrame(frame.frame_id, frame.received, embedding, encode_ms)
        except SamEdgeError as error:
            result = EncodedFrame(frame.frame_id, frame.received, None, 0.0, str(error))
        except Exception as error:  # an engine failure must not end the worker: the session is told
            message = " ".join(f"the encoder failed on this frame ({type(error).__name__}: {error})".split())
            result = EncodedFrame(frame.frame_id, frame.received, None, 0.0, message[:300])
        if not slot.closed:
            slot._deliver(result)

    def _encode(self, rgb: np.ndarray) -> tuple[ImageEmbedding, float]:
        """The embedding and the encode ms. The split decoder's image stage runs here too: its outputs
        are kept with the embedding for every predictor of the model, so the first prompt on a new
        image or frame (a tracking step on every frame) does not pay for it on the decoder thread."""
        started = time.perf_counter()
        embedding = self.predictor.encode(rgb)
        encode_ms = (time.perf_counter() - started) * 1e3
        prepare = getattr(self.predictor.decoder, "image_state", None)
        if prepare is not None:
            prepare(embedding)
        self.encoded += 1
        return embedding, encode_ms


def _lower_priority(nice: int) -> None:
    """Lower this thread's scheduling priority by ``nice`` (Linux: setpriority on the thread id only)."""
    if nice <= 0 or not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, current + nice))
    except OSError:  # not permitted here: run at normal priority
        pass
