"""The progress bar CLI commands draw on stderr (``everything``, ``track``, ``download``, ``export --pretrained``).

Counted steps: ``LABEL [#####.....] done/total UNIT``. Bytes (``unit="bytes"``): sizes, rate and time left,
``LABEL [#####.....] 12.3 MB/375.0 MB  41.2 MB/s  ETA 0:08``. The line is redrawn in place and ends once
``done`` reaches ``total``.
"""

from __future__ import annotations

import sys
import time


def format_size(size: float) -> str:
    """``512 B``, ``14.1 kB``, ``375.0 MB``, ``2.56 GB`` (decimal units)."""
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.2f} GB"


def format_duration(seconds: float) -> str:
    """``0:07``, ``12:30``, ``1:02:03``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """Callable ``(done, total)`` drawing one line on ``stream`` (module docstring).

    ``min_interval_s`` skips redraws closer together than that (the last one is always drawn): a download
    reports every MiB, far more often than a terminal needs. ``total`` may be None for bytes of unknown size.
    Used as a context manager, it ends a line left unfinished when the work stops early (an error follows).
    """

    WIDTH = 30

    def __init__(
        self,
        stream=None,
        label: str = "segmenting everything",
        unit: str = "prompts",
        min_interval_s: float = 0.0,
        clock=time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.label, self.unit = label, unit
        self.min_interval_s, self.clock = min_interval_s, clock
        self._start: tuple[float, int] | None = None  # (time, done) of the first call: the rate excludes resumed bytes
        self._last_draw = float("-inf")
        self._last_length = 0  # a shorter line is padded so that nothing of the longer one stays visible
        self._open = False  # a line is drawn and not ended

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info) -> None:
        self.end_line()

    def end_line(self) -> None:
        """End a line left unfinished (the work stopped early), so that what is printed next starts a line."""
        if self._open:
            print(file=self.stream, flush=True)
            self._open = False

    def __call__(self, done: int, total: int | None) -> None:
        now = self.clock()
        if self._start is None:
            self._start = (now, done)
        finished = total is not None and done >= total
        if not finished and now - self._last_draw < self.min_interval_s:
            return
        self._last_draw = now
        filled = min(self.WIDTH * done // max(total, 1), self.WIDTH) if total is not None else 0
        text = self._bytes(done, total, now) if self.unit == "bytes" else f"{done}/{total} {self.unit}"
        bar = f" [{'#' * filled}{'.' * (self.WIDTH - filled)}]" if total is not None else ""
        line = f"{self.label}{bar} {text}"
        padding = " " * max(self._last_length - len(line), 0)
        self._last_length = len(line)
        print(f"\r{line}{padding}", end="\n" if finished else "", file=self.stream, flush=True)
        self._open = not finished

    def _bytes(self, done: int, total: int | None, now: float) -> str:
        started, first = self._start
        elapsed = now - started
        rate = (done - first) / elapsed if elapsed > 0 else 0.0
        sizes = format_size(done) + (f"/{format_size(total)}" if total is not None else "")
        if rate <= 0:
            return sizes
        eta = f"  ETA {format_duration((total - done) / rate)}" if total is not None and done < total else ""
        return f"{sizes}  {format_size(rate)}/s{eta}"
