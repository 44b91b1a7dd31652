"""`sam-edge segment` and `sam-edge info` on the sample image with the exported vit_small model.

Most runs are in-process through sam_edge.cli.main; one runs `python -m sam_edge` in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli
from PIL import Image

from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.mask_stats import decode_rle, mask_bbox_xywh
from sam_edge.runtime.predictor import SamPredictor

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample.png"  # 640x480 RGB
POINT = "360,265"


def read_mask(path: Path) -> np.ndarray:
    """A 0/255 mask PNG as bool [H, W]; fails on any other value."""
    with Image.open(path) as image:
        assert image.mode == "L" and image.size == (640, 480), (image.mode, image.size)
        pixels = np.asarray(image)
    assert set(np.unique(pixels).tolist()) <= {0, 255}
    return pixels == 255


def assert_one_line_error(status: int, stdout: str, stderr: str, words: str) -> None:
    assert status == 2, (status, stdout, stderr)
    assert "Traceback" not in stderr and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sam-edge segment: error:"), stderr
    assert words in lines[0], lines[0]


@pytest.fixture(scope="module")
def model_dir(exported_golden_model) -> Path:
    return exported_golden_model("vit_small")


@pytest.fixture(scope="module")
def first_run(model_dir, tmp_path_factory) -> dict:
    """One full `segment` run writing every output; tests read its files and printed text."""
    out = tmp_path_factory.mktemp("segment")
    files = {name: out / name for name in ("mask.png", "overlay.png", "result.json", "embedding.npz")}
    status, stdout, stderr = run_cli(
        "segment",
        SAMPLE,
        "--model",
        model_dir,
        "--point",
        POINT,
        "--out",
        files["mask.png"],
        "--overlay",
        files["overlay.png"],
        "--json",
        files["result.json"],
        "--save-embedding",
        files["embedding.npz"],
    )
    return dict(status=status, stdout=stdout, stderr=stderr, dir=out, **files)


@pytest.fixture(scope="module")
def library_prediction(model_dir, first_run):
    """What the Python API gives for the same point, from the saved embedding (decoder only)."""
    predictor = SamPredictor(decoder=next(model_dir.glob("*.decoder.fp32.onnx")), threads=2)
    predictor.set_image_embedding(ImageEmbedding.load(first_run["embedding.npz"]))
    return predictor.predict([[360, 265]], [1], multimask_output=False)


def test_segment_writes_mask_overlay_json_and_embedding(first_run, library_prediction):
    assert first_run["status"] == 0, first_run["stderr"]
    mask = read_mask(first_run["mask.png"])
    np.testing.assert_array_equal(mask, library_prediction.masks[0])
    with Image.open(first_run["overlay.png"]) as overlay, Image.open(SAMPLE) as sample:
        assert overlay.size == (640, 480) and overlay.mode == "RGB"
        changed = np.any(np.asarray(overlay) != np.asarray(sample), axis=2)
    assert changed[mask].mean() > 0.99 and changed[265, 360]  # the mask is tinted, the click is drawn
    embedding = ImageEmbedding.load(first_run["embedding.npz"])
    assert (embedding.original_size, embedding.input_size) == ((480, 640), (768, 1024))


def test_segment_json_describes_the_mask(first_run, library_prediction):
    record = json.loads(first_run["result.json"].read_text())
    mask = read_mask(first_run["mask.png"])
    assert record["image_size_hw"] == [480, 640] and record["prompt"]["points"] == [[360.0, 265.0]]
    (entry,) = record["masks"]
    assert entry["score"] == pytest.approx(float(library_prediction.scores[0]), abs=1e-5)
    assert entry["stability_score"] == pytest.approx(float(library_prediction.stability_scores[0]), abs=1e-5)
    assert 0.0 <= entry["stability_score"] <= 1.0
    assert entry["area"] == int(mask.sum())
    assert entry["bbox_xywh"] == list(mask_bbox_xywh(mask))
    np.testing.assert_array_equal(decode_rle(entry["segmentation"]), mask)


def test_segment_prints_encoder_and_decoder_times(first_run):
    stdout = first_run["stdout"]
    encoder = re.search(r"encoder (\d+) ms", stdout)
    decoder = re.search(r"decoder \+ post-processing ([\d.]+) ms", stdout)
    assert encoder and decoder, stdout
    assert float(encoder.group(1)) > 0 and float(decoder.group(1)) > 0
    assert "image 640x480" in stdout


def test_saved_embedding_reproduces_the_mask(first_run, model_dir):
    again = first_run["dir"] / "again.png"
    status, stdout, stderr = run_cli(
        "segment",
        SAMPLE,
        "--model",
        model_dir,
        "--point",
        POINT,
        "--embedding",
        first_run["embedding.npz"],
        "--out",
        again,
    )
    assert status == 0, stderr
    assert f"loaded {first_run['embedding.npz']}" in stdout
    np.testing.assert_array_equal(read_mask(again), read_mask(first_run["mask.png"]))


def test_multimask_gives_three_masks(first_run, model_dir):
    result = first_run["dir"] / "multi.json"
    status, _, stderr = run_cli(
        "segment",
        SAMPLE,
        "--model",
        model_dir,
        "--point",
        POINT,
        "--multimask",
        "--embedding",
        first_run["embedding.npz"],
        "--json",
        result,
    )
    assert status == 0, stderr
    masks = json.loads(result.read_text())["masks"]
    assert len(masks) == 3
    areas = [int(decode_rle(m["segmentation"]).sum()) for m in masks]
    assert areas == [m["area"] for m in masks] and len({m["score"] for m in masks}) == 3


def test_openvino_backend(first_run, model_dir):
    mask_path = first_run["dir"] / "openvino.png"
    status, stdout, stderr = run_cli(
        "segment",
        SAMPLE,
        "--model",
        model_dir,
        "--point",
        POINT,
        "--backend",
        "openvino",
        "--threads",
        "2",
        "--out",
        mask_path,
    )
    assert status == 0, stderr
    assert "backend openvino" in stdout
    got, expected = read_mask(mask_path), read_mask(first_run["mask.png"])
    union = np.logical_or(got, expected).sum()
    assert union == 0 or np.logical_and(got, expected).sum() / union >= 0.999


def test_python_dash_m_sam_edge(first_run, model_dir):
    mask_path = first_run["dir"] / "subprocess.png"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "sam_edge",
            "segment",
            str(SAMPLE),
            "--model",
            str(model_dir),
            "--point",
            POINT,
            "--threads",
            "2",
            "--out",
            str(mask_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    np.testing.assert_array_equal(read_mask(mask_path), read_mask(first_run["mask.png"]))


@pytest.fixture(scope="module")
def other_size_embedding(first_run) -> Path:
    """The sample's embedding relabelled as made for a 240x320 image."""
    embedding = ImageEmbedding.load(first_run["embedding.npz"])
    path = first_run["dir"] / "other-size.npz"
    ImageEmbedding(embedding.embeddings, (240, 320), (768, 1024), embedding.model_id, embedding.model_type).save(path)
    return path


@pytest.mark.parametrize(
    "case",
    [
        "point outside",
        "malformed point",
        "no prompt",
        "missing image",
        "other-size embedding",
        "missing model",
        "out is a directory",
    ],
)
def test_bad_input_exits_2_with_one_line(case, first_run, other_size_embedding, model_dir, tmp_path):
    base = ["segment", SAMPLE, "--model", model_dir]
    argv, words = {
        "point outside": (base + ["--point", "700,10"], "0 <= x <= 640"),
        "malformed point": (base + ["--point", "a,b"], "expected X,Y or X,Y,LABEL"),
        "no prompt": (base, "no prompt"),
        "missing image": (
            ["segment", tmp_path / "nope.png", "--model", model_dir, "--point", POINT],
            "cannot open image file",
        ),
        "other-size embedding": (base + ["--point", POINT, "--embedding", other_size_embedding], "(240, 320)"),
        "missing model": (["segment", SAMPLE, "--model", tmp_path / "no-model", "--point", POINT], "does not exist"),
        "out is a directory": (
            base + ["--point", POINT, "--embedding", first_run["embedding.npz"], "--out", tmp_path],
            "--out " + str(tmp_path) + " is a directory",
        ),
    }[case]
    assert_one_line_error(*run_cli(*argv), words)


def test_info_prints_each_graph(model_dir, golden_checkpoint):
    model_id = "vit_small-" + hashlib.sha256(golden_checkpoint("vit_small").read_bytes()).hexdigest()[:12]
    graphs = sorted(p.name for p in model_dir.iterdir() if p.suffix in (".onnx", ".xml"))
    assert len(graphs) == 8  # encoder, decoder, decoder_image, decoder_prompt; ONNX and OpenVINO IR each
    status, stdout, stderr = run_cli("info", model_dir)
    assert status == 0, stderr
    blocks = dict(re.findall(r"^(\S+\.(?:onnx|xml))\s.*\n(.*)$", stdout, flags=re.M))
    assert sorted(blocks) == graphs
    for name, line in blocks.items():
        part, precision = name.split(".")[1:3]
        assert re.search(rf"model vit_small\s+id {model_id}\s+part {part}\s+precision {precision}\b", line), line

    status, stdout, stderr = run_cli("info", model_dir, "--json")
    assert status == 0, stderr
    records = json.loads(stdout)
    assert sorted(records) == graphs
    for name, record in records.items():
        assert (record["model_type"], record["model_id"], record["part"], record["precision"]) == (
            "vit_small",
            model_id,
            name.split(".")[1],
            "fp32",
        )


def test_written_files_follow_the_umask_not_mkstemps_0600(tmp_path):
    from sam_edge.runtime.atomic_write import atomic_output

    target = tmp_path / "result.json"
    previous = os.umask(0o022)
    try:
        with atomic_output(target, suffix=".json") as temp:
            temp.write_text("{}")
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == 0o644
