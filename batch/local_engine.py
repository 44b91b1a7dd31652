"""``--engine local``: a pool of worker processes on this machine, one predictor each, loaded once.

Each worker is a spawned process (no fork: the parent may hold engine thread pools) with a pipe to
the parent and at most one item in flight, so the parent always knows what every worker holds:

- a worker that dies (killed, out of memory, a crash in an engine) costs only its item, recorded as
  failed with the exit status; a fresh worker takes its place and the job goes on;
- a worker that cannot load the model stops the job with the loader's one-line error;
- Ctrl-C reaches the parent only (workers ignore SIGINT): it stops the workers with SIGTERM and the
  job ends with what had finished. A worker defers SIGTERM while it commits an item (writes the
  output and its done marker, sends the row); the parent defers Ctrl-C while it takes a row off a
  pipe and records it, and reads the rows its stopped workers had sent. So every output on disk has
  its marker and its manifest row; items still computing are lost.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
import threading
from collections import deque
from multiprocessing.connection import wait
from typing import Callable, Iterable, Iterator, NoReturn

from sam_edge.batch.item_worker import ItemWorker, TaskSpec
from sam_edge.batch.items import BatchItem
from sam_edge.batch.results import failed_row, one_line
from sam_edge.runtime.errors import SamEdgeError

STOP_SECONDS = 10.0  # how long a stopping worker may take to finish unwinding before it is killed


def run_local(spec: TaskSpec, items: Iterable[BatchItem], workers: int, on_row: Callable[[dict], None]) -> None:
    """Process ``items`` on ``workers`` processes of ``spec.threads`` threads; ``on_row(row)`` per item done."""
    with deferrable_ctrl_c() as ctrl_c:
        pool = _Pool(spec, workers, ctrl_c)
        try:
            pool.run(deque(items), on_row)
        finally:
            pool.stop(on_row)


class WorkerStartError(SamEdgeError, RuntimeError):
    """A worker process could not load the model or died while loading it."""


def _worker_main(spec: TaskSpec, conn) -> None:
    """A worker process: load the model, then process items from ``conn`` until None or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the workers itself
    sigterm = DeferredStop(signal.SIGTERM, _exit_for)
    try:
        worker = ItemWorker(spec)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which stops the job in one line
        message = str(error) if isinstance(error, SamEdgeError) else f"{type(error).__name__}: {error}"
        conn.send(("error", one_line(message)))
        return
    conn.send(("ready", worker.name))
    while True:
        try:
            item = conn.recv()
        except EOFError:  # the parent is gone: nothing will read our rows
            return
        if item is None:
            return
        computed = worker.compute(item)
        with sigterm.deferred():
            conn.send(("row", worker.commit(computed)))


def _exit_for(signum: int) -> NoReturn:
    sys.exit(128 + signum)  # SystemExit unwinds the atomic writes under way


def _interrupt(signum: int) -> NoReturn:
    raise KeyboardInterrupt


class DeferredStop:
    """``signum`` calls ``stop(signum)`` at once, except inside ``deferred()``, where it waits for the block's end.

    A flag rather than a signal mask: the engines' threads do not block signals, and Python runs
    its handlers on the main thread whichever thread the signal reached.
    """

    def __init__(self, signum: int, stop: Callable[[int], NoReturn]) -> None:
        self.stop = stop
        self.deferring = False
        self.pending: int | None = None
        self.previous = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        if self.deferring:
            self.pending = signum
        else:
            self.stop(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Run the block whole; a signal that came meanwhile stops the process right after it."""
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
            if self.pending is not None:
                self.stop(self.pending)


@contextlib.contextmanager
def deferrable_ctrl_c() -> Iterator[DeferredStop | None]:
    """Ctrl-C as a DeferredStop while the pool runs (None where this process cannot take it over:
    off the main thread, or a caller that installed its own SIGINT handler); then the old handler."""
    on_main_thread = threading.current_thread() is threading.main_thread()
    if not on_main_thread or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield None
        return
    ctrl_c = DeferredStop(signal.SIGINT, _interrupt)
    try:
        yield ctrl_c
    finally:
        signal.signal(signal.SIGINT, ctrl_c.previous)


class _Slot:
    """One worker process, its pipe, and the item it holds (None when idle)."""

    def __init__(self, context, spec: TaskSpec) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(spec, child), daemon=True)
        self.process.start()
        child.close()
        self.item: BatchItem | None = None
        self.ready = False


class _Pool:
    def __init__(self, spec: TaskSpec, workers: int, ctrl_c: DeferredStop | None) -> None:
        self.spec = spec
        self.ctrl_c = ctrl_c
        self.context = multiprocessing.get_context("spawn")
        self.slots = [_Slot(self.context, spec) for _ in range(workers)]

    def run(self, queue: deque, on_row: Callable[[dict], None]) -> None:
        while queue or any(slot.item is not None for slot in self.slots):
            waitables = [slot.conn for slot in self.slots] + [slot.process.sentinel for slot in self.slots]
            wait(waitables, timeout=1.0)
            for slot in list(self.slots):
                if self._receive(slot, queue, on_row) or slot.process.is_alive():
                    continue
                self.slots.remove(slot)
                replacement = self._replace(slot, on_row, bool(queue))
                if replacement is not None:
                    self.slots.append(replacement)

    def _receive(self, slot: _Slot, queue: deque, on_row) -> bool:
        """Handle every message waiting on ``slot``'s pipe; False when there was none (or the pipe broke)."""
        received = False
        while slot.conn.poll():
            with self._uninterrupted():  # a row taken off the pipe is recorded before Ctrl-C stops the job
                try:
                    kind, payload = slot.conn.recv()
                except (EOFError, OSError):
                    return False
                received = True
                if kind == "error":
                    raise WorkerStartError(f"a worker could not load the model: {payload}")
                if kind == "row":
                    on_row(payload)
                    slot.item = None
                slot.ready = True
                self._dispatch(slot, queue)
        return received

    def _uninterrupted(self):
        return self.ctrl_c.deferred() if self.ctrl_c is not None else contextlib.nullcontext()

    def _dispatch(self, slot: _Slot, queue: deque) -> None:
        if slot.item is None and queue:
            slot.item = queue.popleft()
            slot.conn.send(slot.item)

    def _replace(self, slot: _Slot, on_row, more_work: bool) -> _Slot | None:
        """A dead worker: fail its item, and start another worker if work remains."""
        code = slot.process.exitcode
        if not slot.ready:
            raise WorkerStartError(f"a worker process died while loading the model (exit status {code})")
        if slot.item is not None:
            reason = f"the worker process died while on this image (exit status {code}); run the job again to retry it"
            on_row(failed_row(slot.item.index, slot.item.path, reason, worker=f"pid {slot.process.pid}"))
            slot.item = None
        slot.conn.close()
        return _Slot(self.context, self.spec) if more_work else None

    def stop(self, on_row: Callable[[dict], None]) -> None:
        """End every worker: idle ones are told to stop; busy ones (Ctrl-C, an error) get SIGTERM.

        Rows a busy worker committed and sent before it stopped are still handed to ``on_row``.
        """
        for slot in self.slots:
            if not slot.process.is_alive():
                continue
            try:
                if slot.item is None:
                    slot.conn.send(None)
                else:
                    slot.process.terminate()
            except (OSError, ValueError):  # a closed pipe: the worker is gone or going
                slot.process.terminate()
        for slot in self.slots:
            slot.process.join(STOP_SECONDS)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            self._drain_rows(slot, on_row)
            slot.conn.close()

    @staticmethod
    def _drain_rows(slot: _Slot, on_row: Callable[[dict], None]) -> None:
        try:
            while slot.conn.poll():
                kind, payload = slot.conn.recv()
                if kind == "row":
                    on_row(payload)
        except (EOFError, OSError):  # the pipe ended: nothing more was sent
            pass
