"""What one server process holds: the encoder and decoder (each on its own thread), the kept images, the sessions.

Two predictors of the same model: one whose encoder the encoder thread runs (``encode`` only, which
touches no predictor state) and a decoder-only one that the decoder thread owns. Their engine
sessions are separate, so a prompt is decoded while an image is being encoded; on a small CPU the
encoder gets fewer threads and a lower priority (serve/encoder_worker.py). Everything else here is
used from the event loop only.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from sam_edge import __version__
from sam_edge.runtime.backends import resolve_threads
from sam_edge.runtime.embedding import ImageEmbedding, image_key
from sam_edge.runtime.predictor import SamPredictor
from sam_edge.serve.decoder_worker import DecoderWorker
from sam_edge.serve.encoder_worker import EncoderWorker
from sam_edge.serve.image_store import ImageStore, decode_image_bytes, embedding_id
from sam_edge.serve.settings import ServeSettings


class Service:
    """The models, workers, images and session count of one server (built at start-up, closed at shutdown)."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.decoder_threads = resolve_threads(settings.threads)
        self.encoder_threads = settings.encoder_threads or max(1, self.decoder_threads - 1)
        self.encoder_predictor = SamPredictor(
            settings.model,
            threads=self.encoder_threads,
            cache_size=0,
            max_pixels=settings.max_image_pixels,
            spin_wait=False,
        )
        # No spin-waiting: the decoder shares the cores with the encoder thread and the event loop,
        # which a spinning pool would starve between prompts (runtime/predictor.py, spin_wait).
        self.decoder_predictor = SamPredictor(
            settings.model, with_encoder=False, threads=self.decoder_threads, spin_wait=False
        )
        self.model_id = self.decoder_predictor.metadata.model_id
        self.encoder = EncoderWorker(
            self.encoder_predictor, settings.max_image_pixels, settings.max_pending_encodes, settings.encoder_nice
        )
        self.decoder = DecoderWorker(self.decoder_predictor)
        # What the engines execute never changes once compiled; asking OpenVINO costs ~15 ms, too long
        # for the event loop that every session shares.
        self.executed_precision = {
            "encoder_executes": self.encoder_predictor.encoder.executed_precision(),
            "decoder_executes": self.decoder_predictor.decoder.per_prompt.executed_precision(),
        }
        self.images = ImageStore(settings.max_images)
        self.sessions = 0
        self.started = time.monotonic()

    async def add_image_bytes(self, data: bytes) -> tuple[str, ImageEmbedding, float, bool]:
        """Decode and encode an uploaded image (or find it kept): (image_id, embedding, encode_ms, cached)."""
        rgb, image_id = await asyncio.to_thread(self._decode_and_key, data)
        kept = self.images.get(image_id)
        if kept is not None:
            return image_id, kept, 0.0, True
        future = self.images.pending.get(image_id)
        if future is None:  # the same image already being encoded for another request is waited for, not redone
            future = asyncio.wrap_future(self.encoder.submit_image(rgb))
            self.images.pending[image_id] = future
            future.add_done_callback(lambda done: self._encoded(image_id, done))
        embedding, encode_ms = await asyncio.shield(future)
        return image_id, embedding, encode_ms, False

    async def add_embedding(self, embedding: ImageEmbedding) -> str:
        """Keep a registered embedding; returns its image_id. The decoder thread sets it first, so the
        predictor's own checks (same model, shape, finite values, sizes) refuse a bad one here."""
        await self.decoder.run(embedding, lambda predictor: None)
        image_id = embedding_id(embedding)
        self.images.put(image_id, embedding)
        return image_id

    def info(self) -> dict:
        """What ``GET /v1/info`` reports: model, engines, precision, threads, limits and current use."""
        encoder, decoder = self.encoder_predictor.encoder, self.decoder_predictor.decoder
        return {
            "version": __version__,
            "model": {
                "id": self.model_id,
                "type": self.decoder_predictor.metadata.model_type,
                "image_size": self.decoder_predictor.metadata.image_size,
            },
            "engines": {"encoder": encoder.name, "decoder": decoder.engine, "decoder_layout": decoder.layout},
            "precision": {
                "encoder": encoder.metadata.precision,
                "decoder": decoder.metadata.precision,
                **self.executed_precision,
            },
            "threads": {
                "encoder": self.encoder_threads,
                "decoder": self.decoder_threads,
                "encoder_nice": self.settings.encoder_nice,
            },
            "limits": self.settings.limits(),
            "state": {
                "sessions": self.sessions,
                "images": len(self.images),
                "pending_encodes": self.encoder.pending_uploads(),
                "encoded": self.encoder.encoded,
                "decoded": self.decoder.decoded,
                "uptime_s": round(time.monotonic() - self.started, 1),
            },
        }

    def close(self) -> None:
        self.encoder.close()
        self.decoder.close()

    def _decode_and_key(self, data: bytes) -> tuple[np.ndarray, str]:
        rgb = decode_image_bytes(data, self.settings.max_image_pixels)
        return rgb, image_key(rgb, self.model_id)

    def _encoded(self, image_id: str, done: asyncio.Future) -> None:
        self.images.pending.pop(image_id, None)
        if not done.cancelled() and done.exception() is None:
            self.images.put(image_id, done.result()[0])
