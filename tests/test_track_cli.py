"""``sam-edge track``: an 8-frame H.264 video of a moving object (tests/moving_scene.py) made with PyAV, tracked
with the bundled model; masks.json checked with pycocotools against the object's true positions; bad input.

The object is the sample scene's textured shape rather than a flat disc: the bundled model does not segment a
flat disc from a box (IoU 0.4-0.8 on a still frame), and tracking carries a box.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from cli_runner import run_cli
from moving_scene import edge_box, iou, moving_frame, write_video

av = pytest.importorskip("av")
mask_api = pytest.importorskip("pycocotools.mask")

FRAMES, STEP, FPS = 8, (-4, -2), 10  # 640x480 frames; the object (69x64 px) moves 4 px left, 2 px up per frame


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """(path of the video, the object's true mask per frame bool [FRAMES, 480, 640])."""
    frames = [moving_frame(index, STEP) for index in range(FRAMES)]
    path = tmp_path_factory.mktemp("video") / "moving.mp4"
    write_video(path, [image for image, _ in frames])
    return path, np.stack([mask for _, mask in frames])


def decoded(segmentation: dict) -> np.ndarray:
    rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode()}
    return mask_api.decode(rle).astype(bool)


def overlay_frames(path) -> list[tuple[int, int]]:
    with av.open(str(path)) as container:
        return [(frame.height, frame.width) for frame in container.decode(video=0)]


def test_track_follows_the_object_through_every_frame(video, tmp_path):
    path, truth = video
    out = tmp_path / "run"
    box = ",".join(str(v) for v in edge_box(truth[0]))
    status, stdout, stderr = run_cli("track", path, "--box", box, "--carry", "box", "--out", out, "--threads", "2")
    assert status == 0, stderr
    assert "tracking [" in stderr and f"{FRAMES}/{FRAMES} frames" in stderr
    assert f"video 640x480 at 10 fps: {FRAMES} frames, {FRAMES} segmented (every 1), 0 skipped" in stdout
    document = json.loads((out / "masks.json").read_text())
    assert document["frames_decoded"] == FRAMES and document["frames_processed"] == FRAMES
    assert document["frames_skipped"] == 0 and document["every"] == 1 and document["carry"] == "box"
    assert document["frame_size_hw"] == [480, 640] and document["fps"] == FPS and document["lost_at_frame"] is None
    records = document["frames"]
    assert [record["frame"] for record in records] == list(range(FRAMES))
    assert [record["time_s"] for record in records] == pytest.approx([index / FPS for index in range(FRAMES)])
    # measured with the bundled model: 0.82, 0.85, 0.82, 0.81, 0.77, 0.82, ... (the earlier model: 0.90-0.92)
    ious = [iou(decoded(record["segmentation"]), truth[record["frame"]]) for record in records]
    assert min(ious) > 0.7, ious
    for record in records:
        mask = decoded(record["segmentation"])
        assert not record["lost"] and record["area"] == mask.sum() and 0 < record["score"] <= 1.5
        assert record["bbox_xywh"] == mask_api.toBbox(mask_api.encode(np.asfortranarray(mask))).astype(int).tolist()
    assert overlay_frames(out / "overlay.mp4") == [(480, 640)] * FRAMES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging directory left


def test_every_nth_frame_is_segmented_and_the_rest_skipped(video, tmp_path):
    path, truth = video
    out = tmp_path / "every3"
    box = ",".join(str(v) for v in edge_box(truth[0]))
    status, stdout, stderr = run_cli("track", path, "--box", box, "--every", "3", "--out", out, "--threads", "2")
    assert status == 0, stderr
    assert f"{FRAMES} frames, 3 segmented (every 3), 5 skipped" in stdout
    document = json.loads((out / "masks.json").read_text())
    assert [record["frame"] for record in document["frames"]] == [0, 3, 6]
    assert document["frames_skipped"] == 5 and document["carry"] == "box+logits"
    assert "not a multiple of 3" in document["skipped"]
    # measured: 0.82 on frame 0; the carried logits then hold the mask back (docs/video.md)
    assert iou(decoded(document["frames"][0]["segmentation"]), truth[0]) > 0.75
    assert overlay_frames(out / "overlay.mp4") == [(480, 640)] * 3


def test_a_point_prompt_starts_the_track(video, tmp_path):
    path, truth = video
    status, stdout, stderr = run_cli("track", path, "--point", "590,423", "--every", "6", "--out", tmp_path / "p")
    assert status == 0, stderr
    document = json.loads((tmp_path / "p" / "masks.json").read_text())
    assert document["prompt"] == {"point": [590.0, 423.0], "label": 1, "box": None}
    first = decoded(document["frames"][0]["segmentation"])
    assert iou(first, truth[0]) > 0.7  # measured 0.82 (the clicked pixel itself falls in a gap of the mask)


def test_a_lost_mask_is_marked_and_the_rest_is_not_segmented(tmp_path):
    # measured with the bundled model: the whole-frame box gives 1873 px of the red frame, then nothing on grey
    red = np.zeros((120, 160, 3), np.uint8)
    red[..., 0] = 255
    frames = [red] + [np.full((120, 160, 3), 128, np.uint8)] * 3
    write_video(tmp_path / "fade.mp4", frames)
    out = tmp_path / "out"
    status, stdout, stderr = run_cli("track", tmp_path / "fade.mp4", "--box", "0,0,160,120", "--carry", "box",
                                     "--out", out, "--threads", "2")  # fmt: skip
    assert status == 0, stderr
    assert "4 frames, 4 segmented (every 1), 0 skipped" in stdout and "mask lost at frame 1" in stdout
    document = json.loads((out / "masks.json").read_text())
    assert document["lost_at_frame"] == 1 and [record["lost"] for record in document["frames"]] == [False] + [True] * 3
    assert document["frames"][0]["area"] > 1000
    assert document["frames"][1] == {"frame": 1, "time_s": 0.1, "lost": True, "score": None, "bbox_xywh": None,
                                      "area": 0, "segmentation": None}  # fmt: skip
    assert overlay_frames(out / "overlay.mp4") == [(120, 160)] * 4


def test_an_interrupted_run_leaves_nothing(video, tmp_path, monkeypatch):
    from sam_edge.commands import video_io

    def interrupt(self, rgb):
        raise KeyboardInterrupt

    monkeypatch.setattr(video_io.OverlayVideo, "write", interrupt)
    status, _, stderr = run_cli("track", video[0], "--point", "590,423", "--out", tmp_path / "out")
    assert status == 130 and "interrupted" in stderr
    assert list(tmp_path.iterdir()) == []


def audio_only(path) -> None:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def bad_input_cases(tmp_path, video_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    audio_only(tmp_path / "audio.m4a")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.json").write_text("{}")
    accepted = "accepted are video files FFmpeg decodes, such as MP4, MKV, MOV, AVI or WebM"
    return [
        ([text, "--point", "5,5"], f"'{text}' is not a video PyAV can read (Invalid data found when processing "
         f"input); {accepted}"),
        ([tmp_path / "gone.mp4", "--point", "5,5"], f"cannot open video file '{tmp_path / 'gone.mp4'}': No such "
         "file or directory; give the path of an existing, readable video file"),
        ([tmp_path / "full", "--point", "5,5"], f"'{tmp_path / 'full'}' is a directory; give the path of a video file"),
        ([tmp_path / "audio.m4a", "--point", "5,5"], f"'{tmp_path / 'audio.m4a'}' has no video stream (streams: "
         f"audio); {accepted}"),
        ([video_path, "--point", "5,5", "--box", "0,0,9,9"], "give one prompt, --point X,Y or --box X0,Y0,X1,Y1; "
         "got both"),
        ([video_path], "give one prompt, --point X,Y or --box X0,Y0,X1,Y1; got neither"),
        ([video_path, "--point", "700,5"], "point_coords lie outside the image: accepted 0 <= x <= 640, "
         "0 <= y <= 480 (original pixels)"),
        ([video_path, "--box", "0,0,9,500"], "box lie outside the image: accepted 0 <= x <= 640, 0 <= y <= 480"),
        ([video_path, "--point", "5,5", "--every", "0"], "argument --every: expected an integer >= 1; got '0'"),
        ([video_path, "--point", "5,5", "--max-pixels", "1000"], f"'{video_path}' has 640x480 = 307,200 pixel "
         "frames, above the limit of 1,000 pixels; pass a larger --max-pixels N"),
    ]  # fmt: skip


def test_bad_input_is_one_line_and_writes_nothing(video, tmp_path):
    cases = bad_input_cases(tmp_path, video[0])
    before = sorted(tmp_path.iterdir())
    for argv, message in cases:
        status, stdout, stderr = run_cli("track", *argv, "--out", tmp_path / "out")
        assert status == 2 and stdout == "", (argv, stderr)
        assert message in stderr and len(stderr.strip().splitlines()) == 1, (argv, stderr)
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "out, message",
    [("afile", "--out {out} is a file; expected a directory to create (or an empty one)"),
     ("full", "--out {out} is not empty; give a new or empty directory")],
)  # fmt: skip
def test_an_unusable_out_is_refused(video, tmp_path, out, message):
    bad_input_cases(tmp_path, video[0])
    status, stdout, stderr = run_cli("track", video[0], "--point", "5,5", "--out", tmp_path / out)
    assert status == 2 and stdout == ""
    assert stderr == f"sam-edge track: error: {message.format(out=tmp_path / out)}\n"


def test_without_pyav_it_names_the_extra(video, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av raises ImportError
    status, stdout, stderr = run_cli("track", video[0], "--point", "5,5", "--out", tmp_path / "out")
    assert status == 2 and stdout == ""
    assert stderr == 'sam-edge track: error: sam-edge track needs the video extra: pip install "sam-edge[video]"\n'
    assert not (tmp_path / "out").exists()
