"""The checkpoint registry (names, aliases, model types, checksums), the cache location, the byte progress
bar, and the download bench's report on a small file."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from sam_edge.commands.progress import ProgressBar
from sam_edge.download.cache import cache_root, checkpoints_dir
from sam_edge.download.registry import find_model, get_model, load_registry, unknown_name_message
from sam_edge.export.sam2_specs import SAM2_SPECS
from sam_edge.export.specs import OFFICIAL_SPECS
from sam_edge.runtime.errors import InvalidInputError

MODELS = load_registry()


def test_registry_holds_the_official_checkpoints():
    assert [model.name for model in MODELS] == [
        "sam_vit_b_01ec64",
        "sam_vit_l_0b3195",
        "sam_vit_h_4b8939",
        "mobile_sam",
        "sam2_hiera_tiny",
        "sam2_hiera_small",
        "sam2_hiera_base_plus",
        "sam2_hiera_large",
        "sam2.1_hiera_tiny",
        "sam2.1_hiera_small",
        "sam2.1_hiera_base_plus",
        "sam2.1_hiera_large",
        "edge_sam",
        "edge_sam_3x",
    ]
    vit_b = get_model("vit_b")
    assert (vit_b.name, vit_b.size, vit_b.sha256) == (
        "sam_vit_b_01ec64",
        375042383,
        "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
    )
    assert vit_b.urls == ("https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.name)
def test_every_entry_is_complete_and_names_its_file(model):
    assert model.file.rsplit(".", 1)[0] == model.name  # names are the official file names without extension
    assert all(url.startswith("https://") and url.endswith("/" + model.file) for url in model.urls)
    assert len(model.sha256) == 64 and model.size > 1_000_000 and model.checksum_sources
    assert model.license in ("Apache-2.0", "S-Lab-1.0 (non-commercial)")
    assert model.model_type in {*OFFICIAL_SPECS, *SAM2_SPECS, "edge_sam"}
    for key in (model.name, *model.aliases):
        assert find_model(key) == model


def test_sam2_official_files_match_the_specs_of_their_model_type():
    for model in MODELS:
        if model.model_type in SAM2_SPECS:
            assert SAM2_SPECS[model.model_type].official_file == model.file
    for model_type, spec in OFFICIAL_SPECS.items():
        files = {model.file for model in MODELS if model.model_type == model_type}
        assert spec.official_file in files or not files, model_type  # edge_sam: edge_sam.pth and edge_sam_3x.pth


@pytest.mark.parametrize(
    ("alias", "name"),
    [("vit_t", "mobile_sam"), ("hiera_t", "sam2.1_hiera_tiny"), ("hiera_b+", "sam2.1_hiera_base_plus")],
)
def test_aliases(alias, name):
    assert get_model(alias).name == name


def test_unknown_name_suggests_the_nearest():
    with pytest.raises(InvalidInputError) as caught:
        get_model("vit_bb")
    assert str(caught.value) == "unknown model 'vit_bb'; did you mean 'vit_b'? (sam-edge models lists them)"
    assert unknown_name_message("zzzzzz", MODELS) == "unknown model 'zzzzzz' (sam-edge models lists them)"


def test_mirror_replaces_the_official_hosts(monkeypatch):
    monkeypatch.setenv("SAM_EDGE_MIRROR", "http://127.0.0.1:8080/weights/")
    assert get_model("edge_sam").download_urls() == ("http://127.0.0.1:8080/weights/edge_sam.pth",)
    monkeypatch.setenv("SAM_EDGE_MIRROR", "file:///srv/weights")
    with pytest.raises(InvalidInputError, match="is not an http"):
        get_model("vit_b").download_urls()


def test_registry_file_is_valid_json_with_an_empty_not_added_list():
    from sam_edge.download.registry import REGISTRY_FILE

    table = json.loads(REGISTRY_FILE.read_text())
    assert table["not_added"] == [] and len(table["models"]) == len(MODELS)


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("SAM_EDGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert checkpoints_dir() == tmp_path / "home" / "checkpoints"
    monkeypatch.delenv("SAM_EDGE_HOME")
    assert cache_root() == tmp_path / "xdg" / "sam-edge"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert cache_root() == tmp_path / "user" / ".cache" / "sam-edge"
    assert checkpoints_dir(tmp_path / "given") == tmp_path / "given"


def test_byte_progress_shows_sizes_rate_and_time_left():
    times = iter([0.0, 2.0, 4.0])
    stream = io.StringIO()
    bar = ProgressBar(stream, label="x.pth", unit="bytes", clock=lambda: next(times))
    bar(1_000_000, 10_000_000)  # resumed at 1 MB: the rate counts only what arrives from here
    bar(5_000_000, 10_000_000)
    bar(10_000_000, 10_000_000)
    first, second, last = stream.getvalue().split("\r")[1:]
    assert first == "x.pth [###...........................] 1.0 MB/10.0 MB"
    assert second == "x.pth [###############...............] 5.0 MB/10.0 MB  2.0 MB/s  ETA 0:02"
    expected = "x.pth [##############################] 10.0 MB/10.0 MB  2.2 MB/s"
    assert last == expected + " " * (len(second) - len(expected)) + "\n"  # the longer line before is blanked


def test_byte_progress_skips_redraws_within_its_interval_but_not_the_last():
    times = iter([0.0, 0.05, 0.1, 0.3])
    stream = io.StringIO()
    bar = ProgressBar(stream, label="f", unit="bytes", min_interval_s=0.2, clock=lambda: next(times))
    for done in (0, 1000, 2000, 3000):
        bar(done, 3000)
    assert stream.getvalue().count("\r") == 2 and stream.getvalue().endswith("3.0 kB/3.0 kB  10.0 kB/s\n")


@pytest.mark.skipif(shutil.which("curl") is None, reason="the bench compares against curl")
def test_download_bench_reports_both_clients(tmp_path, capsys):
    from sam_edge.bench import download_bench

    assert download_bench.main(["--mb", "2", "--rounds", "1", "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["size_bytes"] == 2_000_000 and report["rounds"] == 1
    clients = {"curl", "sam_edge", "sha256_alone"} | ({"curl_then_sha256sum"} if shutil.which("sha256sum") else set())
    assert set(report["seconds"]) == clients and all(len(v) == 1 for v in report["seconds"].values())
    rates = report["mb_per_s"]
    assert report["ratio_to_curl"] == pytest.approx(rates["sam_edge"] / rates["curl"])
    assert report["within_10_percent"] == (report["ratio_to_curl"] >= 0.9)
    assert report["curl"].startswith("curl ")
    assert json.loads(capsys.readouterr().out) == report
