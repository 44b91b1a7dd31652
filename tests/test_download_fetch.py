"""The downloader against a loopback server made here: resume, retries, verification, refusals, disk errors.

Every request goes to 127.0.0.1 (a port the OS picks); DNS failure is simulated by replacing
``socket.getaddrinfo``. Proxy variables are cleared so that nothing is sent through a proxy.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import socket
import time

import pytest

from sam_edge.bench.download_bench import RangeFileHandler, serve_files
from sam_edge.download import fetch as fetch_module
from sam_edge.download.api import download_url
from sam_edge.download.errors import ChecksumError, DownloadError
from sam_edge.download.fetch import RetryPolicy, fetch
from sam_edge.download.part_file import PartFile
from sam_edge.runtime.errors import OutputPathError

DATA = bytes(range(256)) * 12_000  # 3 072 000 bytes: several 1 MiB chunks
SHA256 = hashlib.sha256(DATA).hexdigest()
FAST = RetryPolicy(attempts=3, first_delay_s=0.01, max_delay_s=0.02, timeout_s=2.0)
PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


class FaultyHandler(RangeFileHandler):
    """RangeFileHandler with faults by path; every request's (path, Range header) is recorded on the server."""

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests.append((self.path, self.headers.get("Range")))
        route = self.path.split("?")[0]
        if route == "/drop.bin" and self.headers.get("Range") is None:
            self.send_half_then_close()
        elif route == "/wrong.bin":
            self.send_bytes(DATA[::-1])
        elif route == "/norange.bin":
            self.send_bytes(DATA)  # a 200 with the whole file, whatever the Range said
        elif route == "/error500":
            self.send_error(500)
        elif route in REDIRECTS:
            self.send_response(302)
            self.send_header("Location", REDIRECTS[route].replace("PORT", str(self.server.server_address[1])))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/slow.bin":
            time.sleep(1.0)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up long ago
                self.send_bytes(DATA)
        else:
            super().do_GET()

    def send_bytes(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_half_then_close(self) -> None:
        """Promise the whole file, send half, drop the connection (a download interrupted half-way)."""
        self.send_response(200)
        self.send_header("Content-Length", str(len(DATA)))
        self.end_headers()
        self.wfile.write(DATA[: len(DATA) // 2])
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


REDIRECTS = {
    "/redirect": "http://127.0.0.1:PORT/drop.bin",
    "/redirect-file": "file:///etc/passwd",
    "/redirect-ftp": "ftp://127.0.0.1:PORT/ok.bin",
}


@pytest.fixture
def server(tmp_path_factory, monkeypatch):
    """(base URL, [(path, Range header)] of every request): /ok.bin and /drop.bin hold DATA (FaultyHandler)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    served = tmp_path_factory.mktemp("served")  # outside tmp_path, which the tests list
    (served / "data.bin").write_bytes(DATA)
    with serve_files({"/ok.bin": served / "data.bin", "/drop.bin": served / "data.bin"}, FaultyHandler) as running:
        running.requests = []
        yield running.base_url, running.requests


def test_download_is_verified_renamed_and_not_fetched_again(server, tmp_path):
    base_url, requests = server
    first = download_url(f"{base_url}/ok.bin", SHA256, tmp_path / "out", policy=FAST)
    assert (first.path, first.status, first.size) == (tmp_path / "out" / "ok.bin", "downloaded", len(DATA))
    assert first.path.read_bytes() == DATA
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["ok.bin"]  # no .part left
    again = download_url(f"{base_url}/ok.bin", SHA256, tmp_path / "out", policy=FAST)
    assert again.status == "present" and len(requests) == 1


def test_dropped_connection_resumes_with_a_range_request(server, tmp_path):
    base_url, requests = server
    fetched = download_url(f"{base_url}/drop.bin", SHA256, tmp_path, policy=FAST)
    assert fetched.path.read_bytes() == DATA
    assert requests == [("/drop.bin", None), ("/drop.bin", f"bytes={len(DATA) // 2}-")]


def test_kept_part_file_is_resumed_by_the_next_run(server, tmp_path):
    base_url, requests = server
    (tmp_path / "ok.bin.part").write_bytes(DATA[:1_000_000])
    fetched = download_url(f"{base_url}/ok.bin", SHA256, tmp_path, policy=FAST)
    assert fetched.path.read_bytes() == DATA
    assert requests == [("/ok.bin", "bytes=1000000-")]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    base_url, requests = server
    (tmp_path / "norange.bin.part").write_bytes(DATA[:1000])
    fetched = download_url(f"{base_url}/norange.bin", SHA256, tmp_path, policy=FAST)
    assert fetched.path.read_bytes() == DATA and requests == [("/norange.bin", "bytes=1000-")]


def test_wrong_bytes_are_deleted_and_both_digests_named(server, tmp_path):
    base_url, _ = server
    with pytest.raises(ChecksumError) as caught:
        download_url(f"{base_url}/wrong.bin", SHA256, tmp_path, policy=FAST)
    actual = hashlib.sha256(DATA[::-1]).hexdigest()
    assert str(caught.value) == (
        f"wrong.bin from {base_url}/wrong.bin has sha256 {actual}, expected {SHA256}; the download was deleted"
    )
    assert list(tmp_path.iterdir()) == []


def test_404_fails_at_once(server, tmp_path):
    base_url, requests = server
    with pytest.raises(DownloadError) as caught:
        download_url(f"{base_url}/missing.bin", SHA256, tmp_path, policy=FAST)
    assert str(caught.value) == f"HTTP 404 no such file from {base_url}/missing.bin"
    assert len(requests) == 1 and list(tmp_path.iterdir()) == []


def test_500_is_retried_then_fails(server, tmp_path):
    base_url, requests = server
    with pytest.raises(DownloadError) as caught:
        fetch((f"{base_url}/error500",), tmp_path / "x.bin", SHA256, policy=FAST)
    url = f"{base_url}/error500"
    assert str(caught.value) == f"download of {url} failed after 3 tries: HTTP 500 Internal Server Error from {url}"
    assert len(requests) == 3 and list(tmp_path.iterdir()) == []


def test_redirect_is_followed(server, tmp_path):
    base_url, requests = server
    fetched = download_url(f"{base_url}/redirect", SHA256, tmp_path, policy=FAST)
    assert fetched.path == tmp_path / "redirect" and fetched.path.read_bytes() == DATA
    assert [path for path, _ in requests] == ["/redirect", "/drop.bin", "/redirect", "/drop.bin"]


@pytest.mark.parametrize(("route", "scheme"), [("/redirect-file", "file"), ("/redirect-ftp", "ftp")])
def test_redirect_to_another_scheme_is_refused(server, tmp_path, route, scheme):
    base_url, requests = server
    with pytest.raises(DownloadError) as caught:
        download_url(f"{base_url}{route}", SHA256, tmp_path, policy=FAST)
    target = REDIRECTS[route].replace("PORT", base_url.rsplit(":", 1)[1])
    assert str(caught.value) == (
        f"refused the redirect from {base_url}{route} to {target}: it changes the scheme from http to {scheme}; "
        "only same-scheme redirects (or http to https) are followed"
    )
    assert len(requests) == 1 and list(tmp_path.iterdir()) == []


def test_timeout(server, tmp_path):
    base_url, _ = server
    policy = RetryPolicy(attempts=2, first_delay_s=0.01, timeout_s=0.2)
    with pytest.raises(DownloadError) as caught:
        fetch((f"{base_url}/slow.bin",), tmp_path / "slow.bin", SHA256, policy=policy)
    assert (
        str(caught.value)
        == f"download of {base_url}/slow.bin failed after 2 tries: 127.0.0.1 did not answer within 0.2 s"
    )


def test_connection_refused(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed on exit: nothing listens there
    with pytest.raises(DownloadError) as caught:
        fetch((f"http://127.0.0.1:{port}/x.bin",), tmp_path / "x.bin", SHA256, policy=FAST)
    assert (
        str(caught.value)
        == f"download of http://127.0.0.1:{port}/x.bin failed after 3 tries: 127.0.0.1 refused the connection"
    )


def test_dns_failure(tmp_path, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(DownloadError) as caught:
        fetch(("http://weights.example.invalid/x.bin",), tmp_path / "x.bin", SHA256, policy=FAST)
    assert str(caught.value) == (
        "download of http://weights.example.invalid/x.bin failed after 3 tries: cannot resolve weights.example.invalid "
        "(DNS: Name or service not known); check the network, the proxy or SAM_EDGE_MIRROR"
    )


def test_full_disk_keeps_the_part_file(server, tmp_path, monkeypatch):
    base_url, _ = server
    written = PartFile.append

    def fill_up(self, buffer, count):
        if self.size >= 1 << 20:
            self.release(buffer)
            raise OSError(errno.ENOSPC, "No space left on device")
        written(self, buffer, count)

    monkeypatch.setattr(PartFile, "append", fill_up)
    with pytest.raises(DownloadError) as caught:
        download_url(f"{base_url}/ok.bin", SHA256, tmp_path, policy=FAST)
    assert str(caught.value) == (
        f"no space left on the device of {tmp_path} after {1 << 20} of {len(DATA)} bytes; ok.bin.part is kept: "
        "free space (or pass --dir) and run the command again to resume"
    )
    assert [path.name for path in tmp_path.iterdir()] == ["ok.bin.part"]
    assert (tmp_path / "ok.bin.part").read_bytes() == DATA[: 1 << 20]


def test_too_little_free_space_is_refused_before_downloading(server, tmp_path, monkeypatch):
    base_url, _ = server

    class Usage:
        free = 1000

    monkeypatch.setattr(fetch_module.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(DownloadError) as caught:
        download_url(f"{base_url}/ok.bin", SHA256, tmp_path, policy=FAST)
    assert (
        str(caught.value)
        == f"{tmp_path} has 1000 bytes free, the download needs {len(DATA)} more; free space or pass --dir"
    )


def test_unwritable_target_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputPathError) as caught:
        fetch(("http://127.0.0.1:9/x.bin",), tmp_path / "file" / "x.bin", SHA256, policy=FAST)
    assert (
        str(caught.value) == f"output {tmp_path / 'file'} is a file; expected a directory (existing or to be created)"
    )


def test_a_second_writer_of_the_same_part_file_is_refused(tmp_path):
    part = tmp_path / "x.bin.part"
    with PartFile(part):
        with pytest.raises(DownloadError) as caught:
            with PartFile(part):
                pass
    assert str(caught.value) == f"another download is writing {part}; wait for it to finish"


def test_part_file_hash_covers_existing_and_appended_bytes(tmp_path):
    path, head, tail = tmp_path / "x.part", DATA[:5000], DATA[5000:105_000]
    path.write_bytes(head)
    with PartFile(path) as part:
        buffer = part.buffer()
        buffer[: len(tail)] = tail
        part.append(buffer, len(tail))
        assert (part.size, part.hexdigest()) == (105_000, hashlib.sha256(head + tail).hexdigest())
        part.truncate()
        assert (part.size, part.hexdigest(), path.stat().st_size) == (0, hashlib.sha256().hexdigest(), 0)
    assert not path.exists()  # an empty partial file is removed on exit


def test_complete_part_file_is_installed_without_a_body(server, tmp_path):
    base_url, requests = server
    (tmp_path / "ok.bin.part").write_bytes(DATA)  # a run that stopped between the last byte and the rename
    fetched = fetch((f"{base_url}/ok.bin",), tmp_path / "ok.bin", SHA256, len(DATA), policy=FAST)
    assert fetched == "downloaded" and (tmp_path / "ok.bin").read_bytes() == DATA
    assert requests == [("/ok.bin", f"bytes={len(DATA)}-")]  # answered 416: nothing left to send


def test_part_file_longer_than_the_file_starts_over(server, tmp_path):
    base_url, requests = server
    (tmp_path / "ok.bin.part").write_bytes(DATA + b"extra")
    fetch((f"{base_url}/ok.bin",), tmp_path / "ok.bin", SHA256, len(DATA), policy=FAST)
    assert (tmp_path / "ok.bin").read_bytes() == DATA
    assert requests == [("/ok.bin", f"bytes={len(DATA) + 5}-"), ("/ok.bin", None)]


def test_existing_file_with_other_bytes_is_replaced(server, tmp_path):
    base_url, _ = server
    (tmp_path / "ok.bin").write_bytes(DATA[::-1])
    assert fetch((f"{base_url}/ok.bin",), tmp_path / "ok.bin", SHA256, policy=FAST) == "replaced"
    assert (tmp_path / "ok.bin").read_bytes() == DATA
