"""The one decoder thread: every prompt of every client runs here, one at a time, on the image it names.

A SamPredictor holds one current image (its embedding and the mask-upscaling maps built for it), so
it is not safe to share between threads; this worker owns a decoder-only predictor and is the only
thread that touches it. Each call names the embedding it needs; the worker sets it when it differs
from the current one (cheap: no encoder runs, the split decoder's image stage is cached with the
embedding). Calls wait in a FIFO that the callers bound: a stream session has at most one call in
flight (its prompt slot holds the rest, latest wins), HTTP requests are bounded by the server's
connection limit.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

import numpy as np

from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.predictor import SamPredictor
from sam_edge.runtime.subnormals import flush_subnormals_on_this_thread

Result = TypeVar("Result")


class DecoderWorker:
    """Runs functions of the decoder predictor on its own thread: ``await worker.run(embedding, fn)``."""

    def __init__(self, predictor: SamPredictor) -> None:
        self.predictor = predictor
        # the server's own thread: it flushes subnormals, so engine calls run on it without a hop
        # to each session's flushing thread (runtime/subnormals.py)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sam-edge-decoder", initializer=flush_subnormals_on_this_thread
        )
        self.decoded = 0  # calls run, over the worker's life

    async def run(
        self, embedding: ImageEmbedding | None, call: Callable[[SamPredictor], Result]
    ) -> tuple[Result, float]:
        """``call(predictor)`` with ``embedding`` set (None: whatever is set), on the decoder thread;
        returns (its result, the ms it took)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, embedding, call)

    def _call(self, embedding: ImageEmbedding | None, call: Callable[[SamPredictor], Result]) -> tuple[Result, float]:
        started = time.perf_counter()
        if embedding is not None and self.predictor.image_embedding is not embedding:
            self.predictor.set_image_embedding(embedding)
        result = call(self.predictor)
        self.decoded += 1
        return result, (time.perf_counter() - started) * 1e3

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def best_mask(predictor: SamPredictor, point_coords, point_labels, box, multimask: bool) -> tuple[float, np.ndarray]:
    """(score, low-res logits float32 [1, 256, 256]) of one prompt's top-scored mask: the caller
    upscales that one only (serve/mask_messages.py)."""
    scores, low_res = predictor.decode_low_res(point_coords, point_labels, box, None, multimask, batched=False)
    best = int(np.argmax(scores[0]))
    return float(scores[0, best]), low_res[0, best : best + 1]
