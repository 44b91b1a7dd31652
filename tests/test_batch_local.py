"""``sam-edge batch --engine local`` on the bundled model: outputs, failures, resuming, kills and Ctrl-C.

Small generated scenes, 2 workers x 1 thread; every output is compared with the runtime called directly
(same threads, so the same bytes). ~40 s on 2 cores, most of it worker start-up and the runs the
kill and Ctrl-C tests make in subprocesses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli
from test_batch_support import (
    MAX_PIXELS,
    done_record,
    embedding_arrays,
    manifest_rows,
    output_files,
    same_outputs,
    write_folder,
)

from sam_edge.batch import BatchJob, run_batch
from sam_edge.batch.outputs import file_sha256
from sam_edge.runtime.automatic_mask_generator import SamAutomaticMaskGenerator
from sam_edge.runtime.errors import SamEdgeError
from sam_edge.runtime.image_io import load_image
from sam_edge.runtime.predictor import SamPredictor
from sam_edge.runtime.result_json import prediction_record

pytest.importorskip("pyarrow")
GRID = ["--points-per-side", "2", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]


@pytest.fixture(scope="module")
def predictor() -> SamPredictor:
    return SamPredictor("nano", threads=1)  # one thread, as each batch worker: the same bytes out


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("images")
    return {"root": root, **write_folder(root, 4)}


@pytest.fixture(scope="module")
def embed_run(folder, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("embed")
    status, stdout, stderr = run_cli("batch", folder["root"], "--out", out, "--max-pixels", MAX_PIXELS)
    return {"out": out, "status": status, "stdout": stdout, "stderr": stderr}


def load_error(path: Path) -> str:
    with pytest.raises(SamEdgeError) as error:
        load_image(str(path), MAX_PIXELS)
    return str(error.value)


def test_embeddings_are_the_encoders_for_every_good_image(embed_run, folder, predictor):
    out = embed_run["out"]
    assert sorted(output_files(out)) == [
        "scene00.png.npz",
        "scene02.png.npz",
        "sub/scene01.png.npz",
        "sub/scene03.png.npz",
    ]
    for image in folder["good"]:
        name = image.relative_to(folder["root"]).as_posix()
        expected = predictor.encode(load_image(str(image)))
        assert embedding_arrays(out / f"{name}.npz") == (
            expected.embeddings.tobytes(),
            expected.original_size,
            expected.input_size,
            expected.model_id,
            expected.model_type,
        )
        assert done_record(out / f"{name}.npz") == {
            "source": str(image),
            "sha256": file_sha256(str(image)),
            "job": done_record(out / "scene00.png.npz")["job"],
        }


def test_the_manifest_records_every_image_and_why_one_failed(embed_run, folder):
    assert embed_run["status"] == 1, embed_run["stderr"]
    rows = manifest_rows(embed_run["out"])
    paths = sorted(
        [folder["corrupt"], folder["oversized"], *folder["good"]], key=lambda p: p.relative_to(folder["root"])
    )
    assert [row["path"] for row in rows] == [str(path) for path in paths]
    by_path = {row["path"]: row for row in rows}
    for bad in (folder["corrupt"], folder["oversized"]):
        row = by_path[str(bad)]
        assert (row["status"], row["error"], row["output"], row["sha256"]) == (
            "failed",
            load_error(bad),
            None,
            file_sha256(str(bad)),
        )
    workers = set()
    for image in folder["good"]:
        row = by_path[str(image)]
        assert (row["status"], row["error"]) == ("ok", None)
        assert row["output"] == str(embed_run["out"] / f"{image.relative_to(folder['root']).as_posix()}.npz")
        assert 0 < row["encode_ms"] <= row["total_ms"]
        workers.add(row["worker"])
    assert all(int(worker.rsplit(":", 1)[1]) != os.getpid() for worker in workers)
    assert "4 ok, 0 skipped, 2 failed of 6 images in" in embed_run["stdout"]
    assert f"failed: {folder['corrupt']}: {load_error(folder['corrupt'])}" in embed_run["stdout"]
    assert "batch embed [" in embed_run["stderr"] and "6/6 images" in embed_run["stderr"]


def test_a_second_run_skips_what_is_done_and_redoes_a_changed_image(tmp_path):
    out = tmp_path / "again"
    images = tmp_path / "images"
    write_folder(images, 2, corrupt=False, oversized=False)
    assert run_cli("batch", images, "--out", out)[0] == 0
    stamps = {name: path.stat().st_mtime_ns for name, path in output_files(out).items()}
    changed = images / "sub" / "scene01.png"
    changed.write_bytes((images / "scene00.png").read_bytes())  # new content under an old name
    status, stdout, stderr = run_cli("batch", images, "--out", out)
    assert status == 0, stderr
    assert "1 ok, 1 skipped, 0 failed of 2 images" in stdout
    assert [row["status"] for row in manifest_rows(out)] == ["skipped", "ok"]  # scene00, sub/scene01
    now = {name: path.stat().st_mtime_ns for name, path in output_files(out).items()}
    assert [name for name in stamps if now[name] != stamps[name]] == ["sub/scene01.png.npz"]
    assert embedding_arrays(out / "sub/scene01.png.npz")[0] == embedding_arrays(out / "scene00.png.npz")[0]


def test_everything_records_are_the_generators(folder, predictor, tmp_path):
    manifest = tmp_path / "two.jsonl"
    lines = [
        json.dumps({"path": str(folder["good"][0])}),
        '{"path": broken',
        json.dumps({"path": str(folder["good"][1])}),
    ]
    manifest.write_text("\n".join(lines) + "\n")
    status, stdout, stderr = run_cli("batch", manifest, "--out", tmp_path / "out", "--task", "everything", *GRID)
    assert status == 1 and "2 ok, 0 skipped, 1 failed of 3 images" in stdout, stderr
    assert [(row["path"], row["status"], row["error"]) for row in manifest_rows(tmp_path / "out")][1] == (
        f"{manifest} line 2",
        "failed",
        "not valid JSON (Expecting value at column 10)",
    )
    generator = SamAutomaticMaskGenerator(
        predictor, points_per_side=2, pred_iou_thresh=0, stability_score_thresh=0, output_mode="coco_rle"
    )
    for image in folder["good"][:2]:
        written = (tmp_path / "out" / f"{image.name}.everything.json").read_text()
        assert written == json.dumps(generator.generate(load_image(str(image))))
        assert len(json.loads(written)) > 0


def test_prompt_masks_are_the_predictors(folder, predictor, tmp_path):
    first, second = folder["good"][0], folder["good"][1]
    manifest = tmp_path / "prompts.csv"
    manifest.write_text(f'path,points,boxes\n{first},"[[40, 50], [10, 10, 0]]",\n{second},,"[[5, 5, 60, 40]]"\n')
    status, stdout, stderr = run_cli("batch", manifest, "--out", tmp_path / "out", "--task", "prompts")
    assert status == 0, stderr
    expected = {
        first: [([[40.0, 50.0]], [1], None), ([[10.0, 10.0]], [0], None)],
        second: [(None, None, [5.0, 5.0, 60.0, 40.0])],
    }
    root = Path(os.path.commonpath([first.parent, second.parent]))
    for image, prompts in expected.items():
        predictor.set_image(str(image))
        model_id = predictor.metadata.model_id
        records = [
            prediction_record(predictor.predict(*prompt, multimask_output=False), str(image), model_id, *prompt)
            for prompt in prompts
        ]
        name = image.relative_to(root).as_posix()
        assert (tmp_path / "out" / f"{name}.prompts.json").read_text() == json.dumps(records)


def test_a_killed_worker_costs_only_its_image(tmp_path):
    images = tmp_path / "images"
    write_folder(images, 6, corrupt=False, oversized=False)
    seen, killed = [], []

    def kill_the_other_worker(row: dict) -> None:
        """Once both workers have reported, SIGKILL the one that did not send this row (it holds an image)."""
        if row["status"] != "ok":  # the killed worker's own row, which the parent writes
            return
        pid = int(row["worker"].rsplit(":", 1)[1])
        if pid not in seen:
            seen.append(pid)
        if len(seen) == 2 and not killed:
            killed.append(seen[0] if pid == seen[1] else seen[1])
            os.kill(killed[0], signal.SIGKILL)

    summary = run_batch(BatchJob(str(images), tmp_path / "out", workers=2), on_row=kill_the_other_worker)
    failed = [row for row in manifest_rows(tmp_path / "out") if row["status"] == "failed"]
    assert killed and summary.counts == {"ok": 5, "skipped": 0, "failed": 1}
    assert (failed[0]["error"], failed[0]["worker"]) == (
        "the worker process died while on this image (exit status -9); run the job again to retry it",
        f"pid {killed[0]}",
    )


def _start_batch(images: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "sam_edge", "batch", str(images), "--out", str(out), "--workers", "2"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_outputs(process: subprocess.Popen, out: Path, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(list(out.rglob("*.done.json"))) < count:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)


def test_a_run_killed_half_way_resumes_to_the_same_outputs(tmp_path):
    images = tmp_path / "images"
    write_folder(images, 8, corrupt=False, oversized=False)
    process = _start_batch(images, tmp_path / "killed")
    _wait_for_outputs(process, tmp_path / "killed", 3)
    os.killpg(process.pid, signal.SIGKILL)  # the whole job, workers included, as a machine going down
    process.communicate()
    done_at_kill = {path.name for path in (tmp_path / "killed").rglob("*.done.json")}
    assert process.returncode == -signal.SIGKILL and 3 <= len(done_at_kill) < 8
    status, stdout, stderr = run_cli("batch", images, "--out", tmp_path / "killed")
    assert status == 0, stderr
    rows = manifest_rows(tmp_path / "killed")
    skipped = {Path(row["output"]).name + ".done.json" for row in rows if row["status"] == "skipped"}
    assert skipped == done_at_kill and len(rows) == 8
    assert not [path for path in (tmp_path / "killed").rglob(".*") if ".partial" in path.name]
    assert run_cli("batch", images, "--out", tmp_path / "whole")[0] == 0
    assert same_outputs(tmp_path / "killed", tmp_path / "whole")


def test_ctrl_c_stops_the_job_with_a_manifest_of_what_finished(tmp_path):
    images = tmp_path / "images"
    write_folder(images, 8, corrupt=False, oversized=False)
    process = _start_batch(images, tmp_path / "out")
    _wait_for_outputs(process, tmp_path / "out", 2)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal sends to the whole foreground group
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and stderr.rstrip().endswith("sam-edge batch: interrupted"), stderr
    rows = manifest_rows(tmp_path / "out")
    done = sorted(path.name for path in (tmp_path / "out").rglob("*.done.json"))
    assert sorted(Path(row["output"]).name + ".done.json" for row in rows) == done
    assert {row["status"] for row in rows} == {"ok"} and 2 <= len(rows) < 8
    assert not [path for path in (tmp_path / "out").rglob(".*") if ".partial" in path.name]
    np.testing.assert_equal(len(output_files(tmp_path / "out")), len(done))


_SIGTERM_SCRIPT = """
import os, signal, sys, time
from sam_edge.batch.local_engine import DeferredStop
sigterm = DeferredStop(signal.SIGTERM, lambda signum: sys.exit(128 + signum))
with sigterm.deferred():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)  # the handler has run by now; the block still goes on
    print("committed", flush=True)
print("after the block", flush=True)
"""


def test_a_sigterm_during_a_commit_ends_the_worker_only_after_it():
    run = subprocess.run([sys.executable, "-c", _SIGTERM_SCRIPT], capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (128 + signal.SIGTERM, "committed\n"), run.stderr


def test_a_sigterm_outside_a_commit_ends_the_worker_at_once():
    script = _SIGTERM_SCRIPT.replace("with sigterm.deferred():", "if True:")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (128 + signal.SIGTERM, ""), run.stderr


_CTRL_C_SCRIPT = """
import os, signal
from sam_edge.batch.local_engine import deferrable_ctrl_c
try:
    with deferrable_ctrl_c() as ctrl_c:
        with ctrl_c.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            print("recorded", flush=True)
        print("after the block", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, flush=True)
"""


def test_a_ctrl_c_while_the_parent_records_a_row_stops_the_job_only_after_it():
    run = subprocess.run([sys.executable, "-c", _CTRL_C_SCRIPT], capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (0, "recorded\ninterrupted\nTrue\n"), run.stderr


def test_ctrl_c_is_left_alone_off_the_main_thread_and_under_a_callers_handler():
    from concurrent.futures import ThreadPoolExecutor

    from sam_edge.batch.local_engine import deferrable_ctrl_c

    def taken_over() -> bool:
        with deferrable_ctrl_c() as ctrl_c:
            return ctrl_c is not None

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(taken_over).result() is False
    own = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        assert taken_over() is False
    finally:
        signal.signal(signal.SIGINT, own)
    assert taken_over() is (signal.getsignal(signal.SIGINT) is signal.default_int_handler)
