"""A batch job end to end: check the inputs, list the items, run them on an engine, keep the manifest.

Every check that can fail for the whole job runs before a model loads or Ray starts (one line each):
the task, the output directory, the packages an engine needs, the input and its manifest, the model.
After that, a bad item is a failed row and never stops the others (batch/item_worker.py).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sam_edge.batch.item_worker import TASKS, TaskSpec
from sam_edge.batch.items import BatchItem, attach_prompts, find_items
from sam_edge.batch.outputs import remove_stale_partials
from sam_edge.batch.results import RESULTS_NAME, ResultsManifest, failed_row, require_pyarrow
from sam_edge.runtime.atomic_write import check_output_dir, prepare_output_dir
from sam_edge.runtime.errors import InvalidInputError, SamEdgeNote
from sam_edge.runtime.image_io import DEFAULT_MAX_PIXELS

ENGINES = ("local", "ray")
Progress = Callable[[int, int], None]  # (items finished, items in all)


@dataclass(frozen=True)
class BatchJob:
    """What ``sam-edge batch`` was asked for. ``workers`` / ``threads_per_worker`` None: split the CPUs
    (``split_cpus``); ``settings`` as TaskSpec's (generator arguments, or ``{"multimask": bool}``)."""

    source: str
    out_dir: Path
    task: str = "embed"
    prompts_file: str | None = None
    model: str | None = None
    engine: str = "local"
    workers: int | None = None
    threads_per_worker: int | None = None
    ray_address: str | None = None
    backend: str | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    settings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BatchSummary:
    counts: dict  # status -> items
    manifest: Path
    workers: int
    threads_per_worker: int
    seconds: float


def run_batch(
    job: BatchJob, progress: Progress | None = None, on_row: Callable[[dict], None] | None = None
) -> BatchSummary:
    """Run ``job``; returns what happened. Raises a one-line SamEdgeError for what stops the whole job.

    ``progress(done, total)`` after each item; ``on_row(row)`` with each status row as it is recorded
    (RESULT_COLUMNS + ``index``), e.g. to stream them elsewhere.
    """
    started = time.perf_counter()
    items = prepare(job)
    out_dir = prepare_output_dir(job.out_dir)
    remove_stale_partials(out_dir, [item.name for item in items if item.error is None], job.task)
    manifest = ResultsManifest(out_dir / RESULTS_NAME)

    def record(row: dict) -> None:
        manifest.add(row)
        if on_row is not None:
            on_row(row)
        if progress is not None:
            progress(len(manifest.rows), len(items))

    for item in items:
        if item.error is not None:
            record(failed_row(item.index, item.path, item.error))
    good = [item for item in items if item.error is None]
    try:
        workers, threads = _run_engine(job, good, out_dir, record) if good else (0, 0)
    finally:
        if manifest.rows:  # also after Ctrl-C: a manifest of what had finished
            manifest.write()
    return BatchSummary(dict(manifest.counts), manifest.path, workers, threads, time.perf_counter() - started)


def prepare(job: BatchJob) -> list[BatchItem]:
    """The job-wide checks (module docstring), then the items."""
    if job.task not in TASKS:
        raise InvalidInputError(f"unknown task {job.task!r}; expected one of {', '.join(TASKS)}")
    if job.engine not in ENGINES:
        raise InvalidInputError(f"unknown engine {job.engine!r}; expected one of {', '.join(ENGINES)}")
    if job.prompts_file is not None and job.task != "prompts":
        raise InvalidInputError(f"--prompts FILE is for --task prompts; this job's task is {job.task}")
    if job.ray_address is not None and job.engine != "ray":
        raise InvalidInputError("--ray-address is for --engine ray")
    check_output_dir(job.out_dir)
    require_pyarrow()
    if job.engine == "ray":
        from sam_edge.batch.ray_engine import probe_address, require_ray

        require_ray()
        if job.ray_address is not None:
            probe_address(job.ray_address)
    items = find_items(job.source)
    if job.prompts_file is not None:
        items = attach_prompts(items, job.prompts_file)
    _check_model(job)
    return items


def _check_model(job: BatchJob) -> None:
    """The model's files, found without loading them (the workers load them, each once)."""
    from sam_edge.runtime.default_model import find_model_dir
    from sam_edge.runtime.model_dir import find_model_files

    find_model_files(find_model_dir(job.model), backend=job.backend)


def worker_model(model: str | None) -> str | None:
    """What the workers open: an absolute directory, or a bundled name they resolve in their own install."""
    if model is not None and Path(model).is_dir():
        return str(Path(model).absolute())
    return model


def split_cpus(cpus: int, workers: int | None, threads: int | None) -> tuple[int, int]:
    """(workers, threads per worker) with workers x threads <= ``cpus`` (a note when a request is cut).

    Defaults: 1 thread per worker (separate processes scale better than threads within one), as many
    workers as fit; with only one of them given, the other fills the CPUs.
    """
    if threads is None:
        threads = max(1, cpus // workers) if workers else 1
    if threads > cpus:
        warnings.warn(
            SamEdgeNote(f"--threads-per-worker {threads} is more than the {cpus} CPUs; using {cpus}"), stacklevel=2
        )
        threads = cpus
    fitting = max(1, cpus // threads)
    if workers is None:
        workers = fitting
    elif workers > fitting:
        warnings.warn(
            SamEdgeNote(
                f"--workers {workers} x --threads-per-worker {threads} is more than the {cpus} CPUs; "
                f"using {fitting} workers"
            ),
            stacklevel=2,
        )
        workers = fitting
    return workers, threads


def _run_engine(job: BatchJob, items: list[BatchItem], out_dir: Path, on_row) -> tuple[int, int]:
    def spec_for(threads: int) -> TaskSpec:
        model = worker_model(job.model)
        return TaskSpec(job.task, str(out_dir.absolute()), model, threads, job.backend, job.max_pixels, job.settings)

    if job.engine == "local":
        from sam_edge.batch.local_engine import run_local

        workers, threads = split_cpus(cpus_here(), job.workers, job.threads_per_worker)
        workers = min(workers, len(items))
        run_local(spec_for(threads), items, workers, on_row)
        return workers, threads
    from sam_edge.batch.ray_engine import RaySession, run_ray

    session = RaySession(job.ray_address, cpus_here())
    try:
        workers, threads = split_cpus(session.cpus(), job.workers, job.threads_per_worker)
        workers = min(workers, len(items))
        run_ray(spec_for(threads), items, session, workers, on_row)
    finally:
        session.close()
    return workers, threads


def cpus_here() -> int:
    """Logical CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
