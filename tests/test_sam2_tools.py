"""`sam-edge track` and `sam-edge batch` on a SAM 2 model (a small config of the real classes, random weights).

What is checked is that SAM 2's pre- and post-processing reach these commands: the first tracked frame's
mask is the predictor's for the same box, and a batch embedding holds SAM 2's three feature arrays, equal
to the encoder's own.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_runner import run_cli
from moving_scene import edge_box, moving_frame, write_video
from sam2_golden_data import export_random_sam2

from sam_edge.runtime.embedding import ImageEmbedding
from sam_edge.runtime.image_io import load_image
from sam_edge.runtime.predictor import SamPredictor

pytest.importorskip("torch")
FRAMES = 3


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return export_random_sam2(tmp_path_factory.mktemp("sam2_tools") / "model")


def test_track_runs_sam2s_predictor_on_every_frame(model_dir, tmp_path):
    av = pytest.importorskip("av")
    mask_api = pytest.importorskip("pycocotools.mask")
    frames = [moving_frame(index, (-4, -2)) for index in range(FRAMES)]
    write_video(tmp_path / "moving.mp4", [image for image, _ in frames])
    box = edge_box(frames[0][1])
    argv = ["track", tmp_path / "moving.mp4", "--box", ",".join(map(str, box)), "--model", model_dir]
    status, stdout, stderr = run_cli(*argv, "--carry", "box", "--out", tmp_path / "run", "--threads", "2")
    assert status == 0, stderr
    records = json.loads((tmp_path / "run" / "masks.json").read_text())["frames"]
    assert [record["frame"] for record in records] == list(range(FRAMES))
    with av.open(str(tmp_path / "moving.mp4")) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    predictor = SamPredictor(model_dir, threads=2)
    predictor.set_image(first)
    expected = predictor.predict(box=np.array(box, float), multimask_output=False).masks[0]
    segmentation = records[0]["segmentation"]
    got = mask_api.decode({"size": segmentation["size"], "counts": segmentation["counts"].encode()}).astype(bool)
    np.testing.assert_array_equal(got, expected)


def test_batch_embeddings_hold_sam2s_three_feature_arrays(model_dir, tmp_path):
    from test_batch_support import write_folder

    images = write_folder(tmp_path / "images", 2, corrupt=False, oversized=False)["good"]
    status, stdout, stderr = run_cli(
        "batch", tmp_path / "images", "--out", tmp_path / "out", "--model", model_dir, "--workers", "1"
    )
    assert status == 0, stderr
    predictor = SamPredictor(model_dir, threads=1)
    for path in images:
        saved = ImageEmbedding.load(tmp_path / "out" / (path.relative_to(tmp_path / "images").as_posix() + ".npz"))
        direct = predictor.encode(load_image(path))
        assert saved.high_res_features is not None and len(saved.high_res_features) == 2
        np.testing.assert_allclose(saved.embeddings, direct.embeddings, atol=1e-5)
        for ours, theirs in zip(saved.high_res_features, direct.high_res_features):
            np.testing.assert_allclose(ours, theirs, atol=1e-5)
        assert (saved.original_size, saved.input_size) == (direct.original_size, direct.input_size)
