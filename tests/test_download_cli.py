"""``sam-edge download``, ``sam-edge models`` and ``sam-edge export --checkpoint NAME / --pretrained NAME``.

A test registry (small files with their real sha256) replaces the official one, and ``$SAM_EDGE_MIRROR``
points it at a loopback server made here; nothing reaches another host. Errors: exit 2, one line.
"""

from __future__ import annotations

import errno
import hashlib
import json
import socket

import pytest
from cli_runner import run_cli

from sam_edge.bench.download_bench import serve_files
from sam_edge.download import fetch as fetch_module
from sam_edge.download import registry
from sam_edge.download.fetch import RetryPolicy
from sam_edge.export.sam2_specs import SAM2_SPECS

DATA = bytes(range(256)) * 12_000
SHA256 = hashlib.sha256(DATA).hexdigest()
OTHER = DATA[::-1]


def entry(name: str, file: str, sha256: str, size: int, model_type: str = "vit_t") -> dict:
    return {
        "name": name,
        "file": file,
        "aliases": [],
        "model_type": model_type,
        "family": "test",
        "urls": [f"https://weights.example.invalid/{file}"],  # never contacted: the mirror replaces it
        "sha256": sha256,
        "size": size,
        "license": "Apache-2.0",
        "checksum_sources": ["this test"],
    }


@pytest.fixture
def test_registry(tmp_path_factory, monkeypatch, golden_checkpoint):
    """(mirror base URL, served folder): a registry of four small models served from the loopback."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    served = tmp_path_factory.mktemp("served")
    (served / "tiny.bin").write_bytes(DATA)
    (served / "wrong.bin").write_bytes(OTHER)
    (served / "tiny_sam2.pt").write_bytes(DATA)
    (served / "tiny_edge.pth").write_bytes(DATA)
    checkpoint = golden_checkpoint("vit_small").read_bytes()
    (served / "vit_small.pth").write_bytes(checkpoint)
    table = {
        "models": [
            entry("tiny", "tiny.bin", SHA256, len(DATA)),
            entry("wrong", "wrong.bin", SHA256, len(DATA)),
            entry("tiny_sam2", "tiny_sam2.pt", SHA256, len(DATA), model_type="sam2.1_hiera_t"),
            entry("tiny_edge", "tiny_edge.pth", SHA256, len(DATA), model_type="edge_sam"),
            entry("tiny_hq", "tiny_hq.pth", SHA256, len(DATA), model_type="sam_hq"),
            # the loader detects vit_small from the keys; the registry's type only gates what export accepts
            entry("vit_small", "vit_small.pth", hashlib.sha256(checkpoint).hexdigest(), len(checkpoint), "vit_b"),
        ]
    }
    path = tmp_path_factory.mktemp("registry") / "registry.json"
    path.write_text(json.dumps(table))
    monkeypatch.setattr(registry, "REGISTRY_FILE", path)
    monkeypatch.setattr(fetch_module, "DEFAULT_POLICY", RetryPolicy(attempts=3, first_delay_s=0.01, timeout_s=2.0))
    files = {f"/{file.name}": file for file in served.iterdir()}
    with serve_files(files) as server:
        monkeypatch.setenv("SAM_EDGE_MIRROR", server.base_url)
        yield server.base_url, files


@pytest.fixture
def home(tmp_path, monkeypatch):
    """The cache root ($SAM_EDGE_HOME) of this test."""
    monkeypatch.setenv("SAM_EDGE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def error_line(command: str, message: str) -> str:
    return f"sam-edge {command}: error: {message}\n"


def test_download_by_name_into_the_cache_then_not_again(test_registry, home):
    base_url, files = test_registry
    path = home / "checkpoints" / "tiny.bin"
    code, out, err = run_cli("download", "tiny")
    assert (code, out) == (0, f"tiny: downloaded and verified: {path} (3.1 MB, sha256 ok)\n")
    assert "tiny.bin [##############################] 3.1 MB/3.1 MB" in err and path.read_bytes() == DATA
    code, out, _ = run_cli("download", "tiny")
    assert (code, out) == (0, f"tiny: already downloaded and verified: {path} (3.1 MB, sha256 ok)\n")


def test_checksum_mismatch_is_one_line_and_leaves_nothing(test_registry, tmp_path):
    base_url, files = test_registry
    code, out, err = run_cli("download", "wrong", "--dir", tmp_path / "d")
    actual = hashlib.sha256(OTHER).hexdigest()
    message = f"wrong.bin from {base_url}/wrong.bin has sha256 {actual}, expected {SHA256}; the download was deleted"
    assert (code, out) == (2, "")
    progress, error = err.rsplit("\n", 2)[:2]  # the progress line (ended at 100%), then the one-line error
    assert progress.startswith("\rwrong.bin [") and error + "\n" == error_line("download", message)
    assert list((tmp_path / "d").iterdir()) == []


def test_every_name_is_checked_before_anything_is_fetched(test_registry, tmp_path):
    code, out, err = run_cli("download", "tiny", "tinny2", "--dir", tmp_path / "d")
    expected = error_line("download", "unknown model 'tinny2'; did you mean 'tiny'? (sam-edge models lists them)")
    assert (code, out, err) == (2, "", expected) and not (tmp_path / "d").exists()


def test_download_by_url(test_registry, tmp_path):
    base_url, _ = test_registry
    code, out, err = run_cli("download", "--url", f"{base_url}/tiny.bin", "--sha256", SHA256.upper(), "--dir", tmp_path)
    assert (code, out) == (0, f"tiny.bin: downloaded and verified: {tmp_path / 'tiny.bin'} (3.1 MB, sha256 ok)\n")
    assert (tmp_path / "tiny.bin").read_bytes() == DATA


def test_http_404_is_one_line(test_registry, tmp_path):
    base_url, _ = test_registry
    code, out, err = run_cli("download", "--url", f"{base_url}/gone.pth", "--sha256", SHA256, "--dir", tmp_path)
    assert (code, out, err) == (2, "", error_line("download", f"HTTP 404 no such file from {base_url}/gone.pth"))


def test_no_network_is_one_line_after_retries(test_registry, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/x.pth"
    code, out, err = run_cli("download", "--url", url, "--sha256", SHA256, "--dir", tmp_path)
    message = f"download of {url} failed after 3 tries: 127.0.0.1 refused the connection"
    assert (code, out, err) == (2, "", error_line("download", message))


def test_unwritable_cache_is_one_line(test_registry, tmp_path, monkeypatch):
    (tmp_path / "home").write_text("a file, not a folder")
    monkeypatch.setenv("SAM_EDGE_HOME", str(tmp_path / "home"))
    code, out, err = run_cli("download", "tiny")
    message = f"cannot create output directory {tmp_path / 'home' / 'checkpoints'}: {tmp_path / 'home'} is a file"
    assert (code, out, err) == (2, "", error_line("download", message))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "name the checkpoints to download (sam-edge models lists them) or give --url URL --sha256 HEX"),
        (["--url", "https://h/x.pth"], "--url needs --sha256 HEX: sam-edge keeps only files it can verify"),
        (["--sha256", "ab"], "--sha256 applies to --url; registry names bring their own checksums"),
        (
            ["vit_b", "--url", "https://h/x.pth", "--sha256", "ab"],
            "give registry names or --url URL --sha256 HEX, not both",
        ),
        (["--url", "https://h/x.pth", "--sha256", "xyz"], "--sha256 'xyz' is not a sha256; expected 64 hex digits"),
        (
            ["--url", "ftp://h/x.pth", "--sha256", "a" * 64],
            "--url 'ftp://h/x.pth' is not an http(s) URL; expected e.g. https://host/path/file.pth",
        ),
    ],
)
def test_bad_arguments(argv, message, home):
    assert run_cli("download", *argv) == (2, "", error_line("download", message))
    assert not home.exists()


def test_models_lists_the_registry_and_the_cache_state(test_registry, tmp_path):
    (tmp_path / "tiny.bin").write_bytes(DATA)
    (tmp_path / "wrong.bin").write_bytes(b"short")
    (tmp_path / "vit_small.pth.part").write_bytes(b"x" * 100)
    code, out, err = run_cli("models", "--dir", tmp_path)
    size = test_registry[1]["/vit_small.pth"].stat().st_size
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["name", "aliases", "model", "type", "size", "licence", "cached"]
    names = [line.split("  ")[0] for line in lines[1:7]]
    assert names == ["tiny", "wrong", "tiny_sam2", "tiny_edge", "tiny_hq", "vit_small"]
    assert lines[1].endswith("3.1 MB  Apache-2.0  yes (size ok)")
    assert lines[2].endswith("Apache-2.0  wrong size (5 bytes)")
    assert all(lines[row].endswith("Apache-2.0  no") for row in (3, 4, 5))
    assert lines[6].endswith(f"Apache-2.0  partial {100 * 100 // size}%")
    assert lines[7] == f"cache: {tmp_path} (download with: sam-edge download NAME)"


def test_models_lists_the_official_registry(home):
    code, out, _ = run_cli("models")
    rows = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert code == 0 and len(rows) == 14
    assert rows["mobile_sam"].split() == ["mobile_sam", "vit_t", "vit_t", "40.7", "MB", "Apache-2.0", "no"]
    assert "S-Lab-1.0 (non-commercial)  no" in rows["edge_sam_3x"]


def test_export_checkpoint_name_not_downloaded_says_how(test_registry, home, tmp_path):
    code, out, err = run_cli("export", "--checkpoint", "vit_small", "--out", tmp_path / "out")
    message = "checkpoint vit_small is not downloaded; download it with: sam-edge download vit_small"
    assert (code, out, err) == (2, "", error_line("export", message))
    assert not (tmp_path / "out").exists()


def test_export_checkpoint_name_reads_the_cached_file(test_registry, home, tmp_path):
    cached = home / "checkpoints" / "tiny.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(DATA)  # right size, not a checkpoint: the loader's refusal names the cached path
    code, out, err = run_cli("export", "--checkpoint", "tiny", "--out", tmp_path / "out")
    assert code == 2 and out == "" and err.startswith(f"sam-edge export: error: checkpoint {cached} ")


def test_export_refuses_a_family_it_cannot_export_before_downloading(test_registry, home, tmp_path):
    code, out, err = run_cli("export", "--pretrained", "tiny_hq", "--out", tmp_path / "out")
    sam2_names = ", ".join(SAM2_SPECS)
    message = (
        f"tiny_hq is a test checkpoint (sam_hq); export handles vit_b, vit_l, vit_h, vit_t, edge_sam, "
        f"{sam2_names} (sam-edge download tiny_hq still fetches it)"
    )
    assert (code, out, err) == (2, "", error_line("export", message)) and not home.exists()


def test_export_pretrained_takes_edge_sam_names(test_registry, home, tmp_path):
    # past the family gate: downloaded, then read by the loader, which refuses these test bytes
    code, out, err = run_cli("export", "--pretrained", "tiny_edge", "--out", tmp_path / "out")
    cached = home / "checkpoints" / "tiny_edge.pth"
    assert cached.read_bytes() == DATA
    assert code == 2 and out == "" and f"sam-edge export: error: checkpoint {cached} " in err


def test_export_pretrained_takes_sam2_names(test_registry, home, tmp_path):
    # past the family gate: downloaded, then read by the loader, which refuses these test bytes
    code, out, err = run_cli("export", "--pretrained", "tiny_sam2", "--out", tmp_path / "out")
    cached = home / "checkpoints" / "tiny_sam2.pt"
    assert cached.read_bytes() == DATA
    assert code == 2 and out == "" and f"sam-edge export: error: checkpoint {cached} " in err


def test_export_pretrained_model_type_is_refused(test_registry, tmp_path):
    code, out, err = run_cli("export", "--pretrained", "vit_small", "--model-type", "vit_b", "--out", tmp_path)
    message = "--model-type applies to --checkpoint FILE; --pretrained NAME already names the model type"
    assert (code, out, err) == (2, "", error_line("export", message))


def test_export_pretrained_downloads_then_exports(test_registry, home, tmp_path):
    base_url, files = test_registry
    out_dir = tmp_path / "out"
    code, out, err = run_cli("export", "--pretrained", "vit_small", "--out", out_dir, "--decoder", "full")
    assert code == 0, err
    checkpoint = home / "checkpoints" / "vit_small.pth"
    assert checkpoint.read_bytes() == files["/vit_small.pth"].read_bytes()
    graphs = ["vit_custom_64x2.decoder.fp32.onnx", "vit_custom_64x2.encoder.fp32.onnx"]  # the variant as detected
    assert sorted(path.name for path in out_dir.iterdir()) == graphs
    assert "vit_small [##############################]" in err  # the download's progress bar


def test_full_disk_ends_the_progress_line_then_one_error_line(test_registry, tmp_path, monkeypatch):
    from sam_edge.download.part_file import PartFile

    def disk_full(self, buffer, count):
        self.release(buffer)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PartFile, "append", disk_full)
    code, out, err = run_cli("download", "tiny", "--dir", tmp_path)
    message = (
        f"no space left on the device of {tmp_path} after 0 of {len(DATA)} bytes; "
        "free space (or pass --dir) and run the command again to resume"
    )
    assert (code, out) == (2, "")
    assert err == "\rtiny.bin [..............................] 0 B/3.1 MB\n" + error_line("download", message)
    assert list(tmp_path.iterdir()) == []  # no empty partial file left
