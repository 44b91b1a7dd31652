"""``sam-edge batch --engine ray``: the same outputs and rows as the local engine, and the command's own
Ray (started and shut down by it). Ray starts once for the module (2 CPUs, in this process; the runs
join it), plus once in the subprocess of the third test. ~40 s on 2 cores."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from cli_runner import run_cli
from test_batch_support import MAX_PIXELS, embedding_arrays, manifest_rows, same_outputs, write_folder

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install "sam-edge[ray]")')
pytest.importorskip("ray.data", reason='Ray Data is not installed (pip install "sam-edge[ray]")')
GRID = ["--points-per-side", "2", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]
ROW_FIELDS = ("path", "sha256", "status", "error")  # the rest: timings, output dir, worker differ by design


@pytest.fixture(scope="module")
def ray_here():
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    write_folder(root, 3, oversized=False)
    return root


@pytest.fixture(scope="module")
def local_embed(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    assert run_cli("batch", folder, "--out", out, "--max-pixels", MAX_PIXELS)[0] == 1  # the corrupt image fails
    return out


def rows_without_timings(out) -> list[tuple]:
    return [tuple(row[field] for field in ROW_FIELDS) for row in manifest_rows(out)]


def test_embeddings_and_rows_equal_the_local_engines(ray_here, folder, local_embed, tmp_path):
    status, stdout, stderr = run_cli("batch", folder, "--out", tmp_path, "--engine", "ray", "--max-pixels", MAX_PIXELS)
    assert status == 1 and "3 ok, 0 skipped, 1 failed of 4 images" in stdout, stderr
    assert same_outputs(local_embed, tmp_path)
    assert rows_without_timings(tmp_path) == rows_without_timings(local_embed) and len(manifest_rows(tmp_path)) == 4


def test_everything_records_equal_the_local_engines(ray_here, folder, tmp_path):
    for engine in ("local", "ray"):
        argv = ("batch", folder / "sub", "--out", tmp_path / engine, "--engine", engine, "--task", "everything")
        assert run_cli(*argv, *GRID)[0] == 0
    assert same_outputs(tmp_path / "local", tmp_path / "ray")
    assert len(json.loads((tmp_path / "ray" / "scene01.png.everything.json").read_text())) > 0


def test_the_command_starts_and_stops_its_own_ray(folder, local_embed, tmp_path):
    command = [
        sys.executable,
        "-m",
        "sam_edge",
        "batch",
        str(folder / "sub"),
        "--out",
        str(tmp_path),
        "--engine",
        "ray",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 ok, 0 skipped, 0 failed of 1 images" in result.stdout
    assert "(ray: 1 workers x 1 threads)" in result.stdout  # no more actors than images
    assert embedding_arrays(tmp_path / "scene01.png.npz") == embedding_arrays(local_embed / "sub" / "scene01.png.npz")


def test_actors_that_cannot_load_the_model_stop_the_job_in_one_line(ray_here, folder, tmp_path):
    from sam_edge.batch.item_worker import TaskSpec
    from sam_edge.batch.items import find_items
    from sam_edge.batch.ray_engine import RayActorStartError, RaySession, run_ray

    missing = tmp_path / "no-model"  # as a node without the model's directory sees it
    spec = TaskSpec("embed", str(tmp_path / "out"), str(missing), threads=1)
    with pytest.raises(RayActorStartError) as error:
        run_ray(spec, find_items(folder / "sub"), RaySession(None, 2), 1, lambda row: None)
    assert str(error.value).startswith(f"a Ray actor could not start: ModelFileError: model '{missing}' does not exist")
