"""Stream one file over HTTP(S) into ``<file>.part``, resume it after interruptions, verify, rename into place.

The partial file is hashed as it grows (on a thread of its own), so verification costs no second read. A try that dies
half-way leaves the partial file; the next try (or the next run) asks for the rest with a Range
request. Only ``policy.attempts`` tries in a row that receive nothing are made, with doubling pauses.
The final name appears only for bytes whose sha256 matched (``os.replace``, atomic on one file system).
"""

from __future__ import annotations

import errno
import http.client
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from sam_edge.download.cache import part_path
from sam_edge.download.errors import ChecksumError, DownloadError
from sam_edge.download.http_client import TransientError, build_opener, open_from
from sam_edge.download.part_file import PartFile, hash_file
from sam_edge.runtime.atomic_write import prepare_output_dir

# (bytes so far, total bytes or None when the server does not say)
Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: tries in a row without progress, pauses (doubling, capped) and the socket timeout."""

    attempts: int = 5
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    timeout_s: float = 30.0

    def delay(self, failures: int) -> float:
        return min(self.first_delay_s * 2 ** max(failures - 1, 0), self.max_delay_s)


DEFAULT_POLICY = RetryPolicy()


def fetch(
    urls: Sequence[str],
    destination: Path,
    sha256: str,
    size: int | None = None,
    progress: Progress | None = None,
    policy: RetryPolicy | None = None,
) -> str:
    """Make ``destination`` hold the file with ``sha256``: ``"present"`` (already there, verified), else
    ``"downloaded"`` or ``"replaced"`` (a file with other bytes was there). URLs are tried in order.
    ``policy`` defaults to the module's DEFAULT_POLICY, read at call time."""
    policy = policy or DEFAULT_POLICY
    prepare_output_dir(destination.parent)  # one line if the folder cannot be written
    existed = destination.is_file()
    if existed and (size is None or destination.stat().st_size == size) and hash_file(destination) == sha256:
        return "present"
    with PartFile(part_path(destination)) as part:
        url = _transfer_any(urls, part, size, progress, policy)
        digest = part.hexdigest()
        if digest != sha256:
            part.discard()
            raise ChecksumError(
                f"{destination.name} from {url} has sha256 {digest}, expected {sha256}; the download was deleted"
            )
        part.install(destination)
    return "replaced" if existed else "downloaded"


def _transfer_any(urls: Sequence[str], part: PartFile, size: int | None, progress, policy: RetryPolicy) -> str:
    """Fill ``part`` from the first URL that works; the URL used. The partial file carries over between URLs."""
    opener, failures = build_opener(), []
    for url in urls:
        try:
            transfer(opener, url, part, size, progress, policy)
            return url
        except DownloadError as error:
            failures.append(str(error))
    raise DownloadError("; then ".join(failures))


def transfer(opener, url: str, part: PartFile, size: int | None, progress, policy: RetryPolicy) -> None:
    """Append the rest of ``url`` to ``part``, retrying transient failures (module docstring)."""
    failures = 0
    while True:
        before = part.size
        try:
            if _one_try(opener, url, part, size, progress, policy.timeout_s):
                return
            continue  # the server could not resume: the next try starts from byte 0
        except TransientError as error:
            reason = str(error)
        failures = 0 if part.size > before else failures + 1
        if failures >= policy.attempts:
            kept = f"; {part.path.name} keeps {part.size} bytes and the next run resumes" if part.size else ""
            raise DownloadError(f"download of {url} failed after {policy.attempts} tries: {reason}{kept}")
        time.sleep(policy.delay(failures))


def _one_try(opener, url: str, part: PartFile, size: int | None, progress, timeout: float) -> bool:
    """One GET from ``part.size``; True once the file is complete, False when it must start over."""
    answer = open_from(opener, url, part.size, timeout)
    if answer is None:  # 416: nothing after our offset
        if not part.size:
            raise DownloadError(f"{url} answered 416 (range not satisfiable) to a request for the whole file")
        if size is None or part.size == size:
            return True
        part.truncate()  # the partial file is longer than the file, or the server cannot resume it
        return False
    with answer.response as response:
        if answer.start != part.size:
            if answer.start != 0:
                part.truncate()
                return False
            part.truncate()  # a 200: the server ignored the Range, the body is the whole file
        total = answer.total
        if size is not None and total is not None and total != size:
            raise DownloadError(f"{answer.url} is {total} bytes, the registry says {size}; nothing was kept")
        total = total if total is not None else size
        _check_free_space(part, total)
        _stream(response, part, total, progress, answer.url)
    if total is not None and part.size < total:
        raise TransientError(f"the connection closed after {part.size} of {total} bytes")
    if progress is not None and total is None:
        progress(part.size, part.size)  # end the progress line
    return True


def _stream(response, part: PartFile, total: int | None, progress, url: str) -> None:
    if progress is not None:
        progress(part.size, total)
    while True:
        buffer = part.buffer()
        try:
            count = response.readinto(buffer)
        except (OSError, http.client.HTTPException) as error:
            part.release(buffer)
            reason = error or type(error).__name__
            raise TransientError(f"the connection broke after {part.size} bytes ({reason})") from None
        if not count:
            part.release(buffer)
            return
        try:
            part.append(buffer, count)
        except OSError as error:
            raise _write_error(part, error, total) from None
        if progress is not None:
            progress(part.size, total)


def _check_free_space(part: PartFile, total: int | None) -> None:
    if total is None:
        return
    needed, free = total - part.size, shutil.disk_usage(part.path.parent).free
    if needed > free:
        raise DownloadError(
            f"{part.path.parent} has {free} bytes free, the download needs {needed} more; free space or pass --dir"
        )


def _write_error(part: PartFile, error: OSError, total: int | None) -> DownloadError:
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        of = f" of {total}" if total is not None else ""
        kept = f"{part.path.name} is kept: " if part.size else ""
        return DownloadError(
            f"no space left on the device of {part.path.parent} after {part.size}{of} bytes; {kept}"
            "free space (or pass --dir) and run the command again to resume"
        )
    return DownloadError(f"cannot write {part.path}: {error.strerror or error}")
