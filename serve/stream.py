"""The WebSocket session ``/v1/stream``: gaze, prompts and video frames in, masks out (docs/protocol.md).

One session runs three loops on the event loop:

- the reader: each text message is checked (serve/stream_messages.py) and acted on at once: gaze
  samples go through the session's fixation filter, and a new fixation, a point or a box becomes the
  session's pending prompt (latest wins, serve/prompt_slot.py); a binary message is a video frame,
  handed to the encoder's newest-frame slot. A bad message is answered with an error; the socket stays open;
- the prompt loop: takes the newest pending prompt, drops it if it waited longer than
  ``max_prompt_age_ms``, decodes it on the decoder thread against the session's current image, and
  sends one mask (the top-scored candidate) with the number of prompts dropped since the last reply;
- the frame loop: takes each frame the encoder finished, makes it the current image, answers
  ``frame``, and while tracking carries the mask onto it (runtime/mask_tracking.py: the previous
  mask's box and low-res logits as the prompt, re-anchored at the current fixation).

Every decode runs on the one decoder thread (serve/decoder_worker.py), so the session's MaskTrack and
the decoder predictor are only touched there.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from sam_edge.runtime.errors import InvalidInputError, SamEdgeError
from sam_edge.runtime.mask_tracking import MaskTrack
from sam_edge.serve.decoder_worker import best_mask
from sam_edge.serve.encoder_worker import EncodedFrame, Frame
from sam_edge.serve.fixation import FixationFilter
from sam_edge.serve.mask_messages import stream_low_res_mask, stream_mask
from sam_edge.serve.prompt_fields import Prompt
from sam_edge.serve.prompt_slot import LatestSlot
from sam_edge.serve.stream_messages import (
    FIELDS,
    SessionConfig,
    check_message,
    decode_message,
    read_config,
    read_gaze,
    read_image,
    read_prompt,
    read_track,
)

LOG = logging.getLogger("sam_edge.serve")
NO_IMAGE = 'no image yet: select one with {"type": "image", "image_id": ...} or send a video frame first'


class PromptJob:
    """A prompt waiting for the decoder: where it came from, what to echo, when it arrived (monotonic s)."""

    def __init__(self, source: str, prompt: Prompt, fields: dict, received: float) -> None:
        self.source, self.prompt, self.fields, self.received = source, prompt, fields, received


async def stream_endpoint(websocket: WebSocket) -> None:
    service = websocket.app.state.service
    limit = service.settings.max_sessions
    if service.sessions >= limit:
        error = f"this server is at its limit of {limit} stream sessions; try again later"
        try:
            await websocket.send_denial_response(JSONResponse({"error": error}, status_code=503))
        except RuntimeError:  # a server without the denial-response extension: close with "try again later"
            await websocket.close(code=1013, reason=error[:120])
        return
    service.sessions += 1
    try:
        await websocket.accept()
        await StreamSession(websocket, service).run()
    finally:
        service.sessions -= 1


class StreamSession:
    """One client's state: current image, fixation filter, pending prompt and frame, tracking."""

    def __init__(self, websocket: WebSocket, service) -> None:
        self.ws, self.service, self.settings = websocket, service, service.settings
        self.loop = asyncio.get_running_loop()
        self.image = None  # the current ImageEmbedding: an uploaded image or the newest encoded frame
        self.config = SessionConfig(self.settings.gaze, True, self.settings.max_prompt_age_ms)
        self.fixations = FixationFilter(self.config.gaze)
        self.prompts: LatestSlot[PromptJob] = LatestSlot()
        self.frames: LatestSlot[EncodedFrame] = LatestSlot()
        self.frame_slot = service.encoder.open_slot(self._deliver_frame)
        self.next_frame_id = 0
        self.frame_drops_reported = 0
        self.tracking = False
        self.track = MaskTrack(service.decoder_predictor)
        self.last_prompt: PromptJob | None = None
        self.send_lock = asyncio.Lock()

    async def run(self) -> None:
        loops = [asyncio.create_task(self._prompt_loop()), asyncio.create_task(self._frame_loop())]
        try:
            await self.send({"type": "ready", "model_id": self.service.model_id, "limits": self.settings.limits()})
            await self._read_loop()
        except (WebSocketDisconnect, ConnectionError):
            pass
        finally:
            self.frame_slot.close()
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def send(self, message: dict, received: float | None = None) -> None:
        """Send one JSON message; ``received`` (monotonic s) adds latency_ms, measured just before the send."""
        async with self.send_lock:
            if received is not None:
                message["latency_ms"] = round((time.monotonic() - received) * 1e3, 3)
            await self.ws.send_text(json.dumps(message, allow_nan=False))

    # The reader

    async def _read_loop(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await self._on_frame(message["bytes"])
            elif message.get("text") is not None:
                await self._on_text(message["text"])

    async def _on_text(self, text: str) -> None:
        message = None
        try:
            message = decode_message(text, self.settings.max_message_bytes)
            check_message(message)
            handler = getattr(self, f"_on_{message['type']}")
            await handler(message)
        except SamEdgeError as error:
            await self.send(_error(str(error), message))
        except (WebSocketDisconnect, ConnectionError, asyncio.CancelledError):
            raise
        except Exception as error:  # a bug must not end the session: say so on the socket and in the log
            LOG.exception("stream message failed")
            await self.send(_error(f"internal error ({type(error).__name__}); the session goes on", message))

    async def _on_image(self, message: dict) -> None:
        image_id = read_image(message)
        embedding = self.service.images.get(image_id)
        if embedding is None:
            raise InvalidInputError(f"unknown image_id {image_id[:80]!r}: upload the image (POST /v1/images) first")
        self.image = embedding
        self.fixations.reset()  # gaze coordinates now belong to another image
        height, width = embedding.original_size
        await self.send({"type": "image", "image_id": image_id, "width": width, "height": height})

    async def _on_gaze(self, message: dict) -> None:
        sample = read_gaze(message, self._image_size())
        received = time.monotonic()
        fixation = self.fixations.add(sample.t, sample.x, sample.y)
        if fixation is not None:
            prompt = Prompt(points=[[fixation.x, fixation.y]], labels=[1])
            fields = {"t": sample.t, "onset_t": fixation.onset_t, "x": round(fixation.x, 3), "y": round(fixation.y, 3)}
            self.prompts.put(PromptJob("gaze", prompt, fields, received))

    async def _on_point(self, message: dict) -> None:
        request = read_prompt(message, self._image_size())
        self.prompts.put(PromptJob(request.source, request.prompt, {"id": request.id}, time.monotonic()))

    _on_box = _on_point

    async def _on_track(self, message: dict) -> None:
        self.tracking = read_track(message)
        last = self.last_prompt
        if self.tracking and last is not None and self.image is not None:
            await self.service.decoder.run(self.image, lambda predictor: self._start_track(last.prompt))
        elif not self.tracking:
            await self.service.decoder.run(None, lambda predictor: self.track.stop())
        await self.send({"type": "track", "on": self.tracking, "active": self.track.active})

    async def _on_config(self, message: dict) -> None:
        self.config = read_config(message, self.config, self.settings.max_prompt_age_ms)
        self.fixations = FixationFilter(self.config.gaze)
        await self.send(self.config.reply())

    async def _on_frame(self, data: bytes) -> None:
        frame_id, self.next_frame_id = self.next_frame_id, self.next_frame_id + 1
        limit = self.settings.max_frame_bytes
        if len(data) > limit:
            error = f"frame {frame_id} is {len(data):,} bytes, above this server's limit of {limit:,}"
            await self.send({"type": "error", "error": error, "frame_id": frame_id})
            return
        self.frame_slot.put(Frame(frame_id, data, time.monotonic()))

    def _image_size(self) -> tuple[int, int]:
        if self.image is None:
            raise InvalidInputError(NO_IMAGE)
        return tuple(self.image.original_size)

    # The prompt loop

    async def _prompt_loop(self) -> None:
        while True:
            job, dropped = await self.prompts.take()
            waited_ms = (time.monotonic() - job.received) * 1e3
            if waited_ms > self.config.max_prompt_age_ms or self.image is None:
                self.prompts.drop_one(dropped)  # too old to be what the user means now: the next reply counts it
                continue
            fields = {**job.fields, "dropped": dropped, "queue_ms": round(waited_ms, 3)}
            try:
                message, decode_ms = await self.service.decoder.run(
                    self.image, functools.partial(self._decode_prompt, job=job, fields=fields)
                )
            except SamEdgeError as error:
                await self.send(_error(str(error), {"type": job.source, **job.fields}))
                continue
            except Exception as error:  # a bug must not stop the session's answers
                LOG.exception("stream decode failed")
                await self.send(_error(f"internal error ({type(error).__name__})", {"type": job.source, **job.fields}))
                continue
            self.last_prompt = job
            message["decode_ms"] = round(decode_ms, 3)
            await self.send(message, received=job.received)

    def _decode_prompt(self, predictor, *, job: PromptJob, fields: dict) -> dict:
        """On the decoder thread: the prompt's top-scored mask (and a new track from it while tracking)."""
        if self.tracking:
            return stream_mask(self._start_track(job.prompt), job.source, **fields)
        score, low_res = best_mask(
            predictor, job.prompt.points, job.prompt.labels, job.prompt.box, self.config.multimask
        )
        return stream_low_res_mask(predictor.mask_upscaler(), score, low_res, job.source, **fields)

    def _start_track(self, prompt: Prompt):
        if prompt.box is not None:
            return self.track.start(box=prompt.box)
        return self.track.start(point=tuple(prompt.points[0]), label=prompt.labels[0])

    # The frame loop

    def _deliver_frame(self, encoded: EncodedFrame) -> None:
        """Called on the encoder thread: hand the result to this session's loop (newest wins there too)."""
        try:
            self.loop.call_soon_threadsafe(self.frames.put, encoded)
        except RuntimeError:  # the event loop is closed: the server is shutting down
            pass

    async def _frame_loop(self) -> None:
        while True:
            encoded, dropped_here = await self.frames.take()
            dropped = dropped_here + self.frame_slot.dropped - self.frame_drops_reported
            self.frame_drops_reported = self.frame_slot.dropped
            if encoded.error is not None:
                await self.send({"type": "error", "error": encoded.error, "frame_id": encoded.frame_id})
                continue
            self.image = encoded.embedding
            height, width = encoded.embedding.original_size
            frame = {"type": "frame", "frame_id": encoded.frame_id, "encode_ms": round(encoded.encode_ms, 3)}
            await self.send({**frame, "dropped": dropped, "width": width, "height": height})
            if self.tracking and self.track.active:
                await self._track_frame(encoded)

    async def _track_frame(self, encoded: EncodedFrame) -> None:
        current = self.fixations.current
        anchor = None if current is None else (current.x, current.y)

        def step(predictor):
            result = self.track.step(anchor)
            return None if result is None else stream_mask(result, "track", frame_id=encoded.frame_id)

        try:
            message, decode_ms = await self.service.decoder.run(encoded.embedding, step)
        except Exception as error:  # SamEdgeError: its message; anything else: a bug, logged, the session goes on
            if not isinstance(error, SamEdgeError):
                LOG.exception("tracking step failed")
            text = str(error) if isinstance(error, SamEdgeError) else f"internal error ({type(error).__name__})"
            await self.send({"type": "error", "error": text, "frame_id": encoded.frame_id})
            return
        if message is None:
            await self.send({"type": "track", "on": True, "active": False, "lost": True, "frame_id": encoded.frame_id})
            return
        message["decode_ms"] = round(decode_ms, 3)
        message["anchored"] = anchor is not None
        await self.send(message, received=encoded.received)


def _error(text: str, message: dict | None) -> dict:
    """An error reply naming the message it answers (its type and id, when it had them)."""
    reply = {"type": "error", "error": " ".join(text.split())[:500]}
    if isinstance(message, dict) and isinstance(message.get("type"), str) and message["type"] in FIELDS:
        reply["in_reply_to"] = message["type"]
        if isinstance(message.get("id"), (str, int)) and not isinstance(message.get("id"), bool):
            reply["id"] = message["id"]
    return reply
