"""Download throughput against curl, from the same loopback HTTP server.

``python -m sam_edge.bench.download_bench [--mb 200] [--rounds 3] [--json OUT.json]`` writes a file of
random bytes, serves it from a server in a subprocess (127.0.0.1, Range support, the kernel's
sendfile), then alternates ``curl -o``, sam-edge's downloader (``download.fetch.fetch``: stream, sha256
of what arrives, rename) and ``curl -o`` followed by ``sha256sum`` (the same guarantee from a shell),
the output deleted before each round, and reports the medians; ``sha256_alone`` times hashlib over the
same bytes from the page cache (what verification costs the CPU, whoever does it).
No other host is contacted (curl runs with ``--noproxy '*'``, our client with ``no_proxy=*``).

The server (``serve_files``, ``RangeFileHandler``) is also what the download tests serve from.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from sam_edge.bench.timing import time_once
from sam_edge.runtime.atomic_write import atomic_output

RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
WITHIN = 0.10  # the target: our throughput within 10% of curl's


class RangeFileHandler(BaseHTTPRequestHandler):
    """GET of ``server.files[path]`` (a Path) with ``Range: bytes=N-[M]``: 200, 206 or 416; 404 otherwise."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.server.files.get(self.path.split("?")[0])
        if path is None:
            self.send_error(404, "no such file")
            return
        size = path.stat().st_size
        start, end = self.requested_range(size)
        if start is None:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if "Range" in self.headers else 200)
        if "Range" in self.headers:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.send_body(path, start, end)

    def requested_range(self, size: int) -> tuple[int | None, int]:
        """[start, end) of the request; start None when the range is not satisfiable."""
        match = RANGE.match(self.headers.get("Range", "").strip())
        if match is None:
            return 0, size
        start = int(match.group(1))
        end = min(int(match.group(2)) + 1, size) if match.group(2) else size
        return (start, end) if start < size and start < end else (None, size)

    def send_body(self, path: Path, start: int, end: int) -> None:
        """The bytes [start, end) of ``path``, by sendfile (no copy through Python)."""
        with open(path, "rb") as handle, contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.connection.sendfile(handle, offset=start, count=end - start)  # a client may hang up early

    def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
        pass  # quiet: tests and the bench read their own output


@contextlib.contextmanager
def serve_files(files: dict[str, Path], handler=RangeFileHandler) -> Iterator[ThreadingHTTPServer]:
    """A loopback server (port chosen by the OS) for ``files`` {"/name": Path}, running on a thread.

    Yields the server: ``server.base_url`` is ``http://127.0.0.1:PORT``; handlers may keep state on it.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.files = files
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_folder_until_stdin_closes(folder: Path) -> None:
    """The bench's server process: serve every file of ``folder``, print the base URL, stop when stdin closes."""
    files = {f"/{path.name}": path for path in folder.iterdir() if path.is_file()}
    with serve_files(files) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


def write_random_file(path: Path, size: int) -> str:
    """``size`` random bytes into ``path``; their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        for offset in range(0, size, 1 << 22):
            chunk = os.urandom(min(1 << 22, size - offset))
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest()


def measure(size_mb: int, rounds: int, work: Path) -> dict:
    """Seconds per download for curl and for sam-edge, alternating, each from an empty output folder."""
    from sam_edge.download.fetch import fetch

    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("download_bench needs curl on PATH")
    served, out = work / "served", work / "out"
    served.mkdir()
    out.mkdir()
    size = size_mb * 1_000_000
    sha256 = write_random_file(served / "blob.bin", size)
    server = subprocess.Popen(
        [sys.executable, "-m", "sam_edge.bench.download_bench", "--serve", str(served)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"{server.stdout.readline().strip()}/blob.bin"
        target = out / "blob.bin"

        def with_curl():
            subprocess.run([curl, "-s", "-f", "--noproxy", "*", "-o", str(target), url], check=True)

        def with_sam_edge():
            fetch((url,), target, sha256, size)

        def with_curl_then_sha256sum():  # what a shell does to get the same guarantee
            with_curl()
            subprocess.run([sha256sum, str(target)], check=True, capture_output=True)

        def sha256_alone():  # the verification's CPU floor: hashlib over the file, from the page cache
            from sam_edge.download.part_file import hash_file

            hash_file(served / "blob.bin")

        clients = [("curl", with_curl), ("sam_edge", with_sam_edge)]
        sha256sum = shutil.which("sha256sum")
        if sha256sum is not None:
            clients.append(("curl_then_sha256sum", with_curl_then_sha256sum))
        times = {name: [] for name, _ in clients + [("sha256_alone", None)]}
        for _ in range(rounds):
            for name, call in clients:
                target.unlink(missing_ok=True)
                times[name].append(time_once(call))
                if target.stat().st_size != size:
                    raise SystemExit(f"{name} wrote {target.stat().st_size} bytes, expected {size}")
            times["sha256_alone"].append(time_once(sha256_alone))
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    return report(size, rounds, times, curl)


def report(size: int, rounds: int, times: dict[str, list[float]], curl: str) -> dict:
    """Medians, throughputs (MB/s, 1 MB = 10^6 bytes) and our throughput as a fraction of curl's (and of
    curl followed by sha256sum, the same guarantee from a shell, when sha256sum exists)."""
    median = {name: statistics.median(values) for name, values in times.items()}
    rate = {name: size / 1e6 / seconds for name, seconds in median.items()}
    ratio = rate["sam_edge"] / rate["curl"]
    verified = rate["sam_edge"] / rate["curl_then_sha256sum"] if "curl_then_sha256sum" in rate else None
    version = subprocess.run([curl, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "size_bytes": size,
        "rounds": rounds,
        "seconds": times,
        "median_s": median,
        "mb_per_s": rate,
        "ratio_to_curl": ratio,
        "within_10_percent": ratio >= 1 - WITHIN,
        "ratio_to_curl_then_sha256sum": verified,
        "curl": version,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sam_edge.bench.download_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="file size in MB (10^6 bytes; default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="downloads per client, alternating (default 3)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the server subprocess
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve_folder_until_stdin_closes(args.serve)
        return 0
    os.environ["no_proxy"] = "*"  # loopback only, whatever proxy the environment names
    with tempfile.TemporaryDirectory(prefix="sam-edge-download-bench-") as work:
        result = measure(args.mb, args.rounds, Path(work))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        with atomic_output(args.json) as temp:
            temp.write_text(text + "\n")
    rate = result["mb_per_s"]
    print(
        f"sam-edge {rate['sam_edge']:.0f} MB/s, curl {rate['curl']:.0f} MB/s: {result['ratio_to_curl']:.2f}x",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
