"""One worker's model and the work on one item, the same code under both engines (a process or a Ray actor).

``ItemWorker(spec)`` loads the predictor once (``spec.threads`` CPU threads); ``process(item)`` (``compute``,
which writes nothing, then ``commit``, which writes) returns the item's status row (batch/results.py)
and never raises for a bad image: the file is hashed (sha256 of its bytes), skipped when its output
is complete for that content (batch/outputs.py), else decoded (runtime/image_io.py; a damaged or
oversized file is a SamEdgeError, recorded as failed) and run:

- ``embed``: the encoder; ``OUT/<name>.npz`` in ImageEmbedding's save format (what ``sam-edge serve``'s
  embedding endpoint returns and ``ImageEmbedding.load`` reads);
- ``everything``: the automatic mask generator; ``OUT/<name>.everything.json``, the records list with
  COCO RLE segmentations, as ``sam-edge everything --json`` writes it;
- ``prompts``: each prompt of the item (batch/prompt_spec.py); ``OUT/<name>.prompts.json``, a list with
  one runtime/result_json.py record per prompt (COCO RLE masks, scores, boxes; coordinates in pixels).

Every file is written atomically; timings go to the status row only, so outputs are the same bytes
whichever engine or worker made them.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sam_edge.batch.items import BatchItem
from sam_edge.batch.outputs import file_sha256, forget_done, is_done, job_key, mark_done, output_path
from sam_edge.batch.prompt_spec import parse_prompts
from sam_edge.batch.results import failed_row
from sam_edge.runtime.atomic_write import atomic_output
from sam_edge.runtime.errors import SamEdgeError, SamEdgeNote

TASKS = ("embed", "everything", "prompts")


@dataclass(frozen=True)
class TaskSpec:
    """What every worker needs, as plain values (it is pickled to processes and Ray actors).

    ``model``: a model directory or bundled name (None: the bundled default); ``settings``: the
    generator's keyword arguments for ``everything``, ``{"multimask": bool}`` for ``prompts``.
    """

    task: str
    out_dir: str
    model: str | None = None
    threads: int = 1
    backend: str | None = None
    max_pixels: int | None = None
    settings: dict = field(default_factory=dict)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ItemWorker:
    """A predictor (and, for ``everything``, a generator) loaded once; ``process`` per item."""

    def __init__(self, spec: TaskSpec) -> None:
        from sam_edge.runtime.image_io import allow_pillow_pixels
        from sam_edge.runtime.predictor import SamPredictor

        self.spec = spec
        warnings.simplefilter("ignore", SamEdgeNote)  # the driver has printed the model's notes once already
        allow_pillow_pixels(spec.max_pixels)  # load_image's own header check is then the only limit
        # cache_size=1: the generator's first set_image (the whole image) reuses the timed encode
        self.predictor = SamPredictor(
            spec.model, backend=spec.backend, threads=spec.threads, max_pixels=spec.max_pixels, cache_size=1
        )
        self.model_id = self.predictor.metadata.model_id
        self.generator = None
        if spec.task == "everything":
            from sam_edge.runtime.automatic_mask_generator import SamAutomaticMaskGenerator

            self.generator = SamAutomaticMaskGenerator(self.predictor, **spec.settings, output_mode="coco_rle")
        self.name = worker_name()

    def process(self, item: BatchItem) -> dict:
        """The status row of ``item`` (RESULT_COLUMNS + ``index``); outputs written when it is ok."""
        return self.commit(self.compute(item))

    def compute(self, item: BatchItem) -> "Computed":
        """Everything of ``item`` that writes nothing (hash, decode, the model): safe to interrupt."""
        started = time.perf_counter()
        if item.error is not None:
            return Computed(item, started, row=failed_row(item.index, item.path, item.error, self.name))
        sha256 = None
        try:
            prompts = parse_prompts(item.prompts) if self.spec.task == "prompts" else None
            sha256 = _sha256(item.path)
            output = output_path(self.spec.out_dir, item.name, self.spec.task)
            job = job_key(self.spec.task, self.model_id, self.spec.settings, item.prompts)
            if is_done(output, sha256, job):
                return Computed(item, started, row=self._row(item, sha256, "skipped", None, started, output))
            encode_ms, write = self._run(item, prompts)
            return Computed(item, started, sha256, job, output, encode_ms, write)
        except Exception as error:  # noqa: BLE001 - a bug or an OS error on one item must not stop the others
            return Computed(item, started, row=self._failed(item, error, sha256))

    def commit(self, computed: "Computed") -> dict:
        """Write ``computed``'s output and its done marker; returns the item's status row.

        The only step that writes: a caller that must not be interrupted half-way (a worker process
        being stopped) defers its stop signal around this call and the row's delivery.
        """
        if computed.row is not None:
            return computed.row
        item, output = computed.item, computed.output
        try:
            forget_done(output)  # the old marker goes first: a crash while rewriting leaves no false one
            computed.write(output)
            mark_done(output, item.path, computed.sha256, computed.job)
        except Exception as error:  # noqa: BLE001 - e.g. a full disk fails this item, not the job
            return self._failed(item, error, computed.sha256)
        return self._row(item, computed.sha256, "ok", computed.encode_ms, computed.started, output)

    def _failed(self, item: BatchItem, error: Exception, sha256: str | None) -> dict:
        message = str(error) if isinstance(error, SamEdgeError) else f"{type(error).__name__}: {error}"
        return failed_row(item.index, item.path, message, self.name, sha256)

    def _run(self, item: BatchItem, prompts) -> tuple[float, Callable[[Path], None]]:
        """Decode and run the task; returns the encoder's milliseconds and what writes the output."""
        from sam_edge.runtime.image_io import load_image

        rgb = load_image(item.path, self.spec.max_pixels)
        started = time.perf_counter()
        if self.spec.task == "embed":
            embedding = self.predictor.encode(rgb)
            return (time.perf_counter() - started) * 1e3, embedding.save
        self.predictor.set_image(rgb)
        encode_ms = (time.perf_counter() - started) * 1e3
        if self.spec.task == "everything":
            payload = self.generator.generate(rgb)
        else:
            payload = self._prompt_records(item, prompts)
        self.predictor.reset_image()
        return encode_ms, lambda output: _write_json(output, payload)

    def _prompt_records(self, item: BatchItem, prompts) -> list[dict]:
        from sam_edge.runtime.result_json import prediction_record

        multimask = bool(self.spec.settings.get("multimask", False))
        records = []
        for prompt in prompts:
            result = self.predictor.predict(prompt.points, prompt.labels, prompt.box, multimask_output=multimask)
            records.append(
                prediction_record(result, item.path, self.model_id, prompt.points, prompt.labels, prompt.box)
            )
        return records

    def _row(self, item: BatchItem, sha256: str, status: str, encode_ms, started: float, output) -> dict:
        return {
            "index": item.index,
            "path": item.path,
            "sha256": sha256,
            "status": status,
            "error": None,
            "encode_ms": None if encode_ms is None else round(encode_ms, 3),
            "total_ms": round((time.perf_counter() - started) * 1e3, 3),
            "output": str(output),
            "worker": self.name,
        }


@dataclass
class Computed:
    """One item between ``compute`` and ``commit``: a final ``row`` (skipped, failed), or what to write."""

    item: BatchItem
    started: float  # perf_counter when the item was taken, for the row's total_ms
    sha256: str | None = None
    job: str | None = None
    output: Path | None = None
    encode_ms: float | None = None
    write: Callable[[Path], None] | None = None
    row: dict | None = None


def _write_json(output: Path, payload) -> None:
    with atomic_output(output, suffix=".json") as temp:
        temp.write_text(json.dumps(payload))


def _sha256(path: str) -> str:
    try:
        return file_sha256(path)
    except OSError as error:
        raise _UnreadableFile(f"cannot read {path}: {error.strerror or error}") from None


class _UnreadableFile(SamEdgeError, OSError):
    """The input file is missing or unreadable (one item fails, the job goes on)."""
