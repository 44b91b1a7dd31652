"""Frames of a moving object with its ground truth, and MP4 files of them, for the tracking tests
(test_mask_tracking.py, test_track_cli.py, test_sam2_tools.py).

The object is one the bundled model segments well from a box: the textured shape at the lower right
of assets/sample_scene.png (instance ``TRACKED_INSTANCE``, box IoU ~0.9 on the still image; the
model's box IoU over the held-out scenes is 0.35, and it does not segment a flat disc on a flat
background from a box: IoU 0.4-0.8). A frame is the whole scene shifted by (dx, dy) pixels, the
edges repeated, so the object moves and its ground truth moves with it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from sam_edge.runtime.mask_stats import mask_bbox_xywh
from sam_edge.scenes import generate_scene
from sam_edge.scenes.generator import SceneConfig
from sam_edge.scenes.preview import SAMPLE_SCENE_SEED, SAMPLE_SCENE_SIZE

TRACKED_INSTANCE = 9  # 69x64 px at x 556, y 391 of the 640x480 sample scene


@lru_cache(maxsize=1)
def sample_scene_and_object() -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 [480, 640, 3], the tracked object's mask bool [480, 640]) of the sample scene."""
    height, width = SAMPLE_SCENE_SIZE
    config = SceneConfig(long_side=(max(SAMPLE_SCENE_SIZE),) * 2, aspect_ratio=(width / height,) * 2)
    scene = generate_scene(SAMPLE_SCENE_SEED, config)
    return scene.image, scene.instance_masks[TRACKED_INSTANCE]


def shifted(array: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``array`` [H, W, ...] moved right by ``dx`` and down by ``dy`` pixels (negative: left / up), edges repeated."""
    height, width = array.shape[:2]
    pad = ((abs(dy), abs(dy)), (abs(dx), abs(dx))) + ((0, 0),) * (array.ndim - 2)
    padded = np.pad(array, pad, mode="edge")
    top, left = abs(dy) - dy, abs(dx) - dx
    return np.ascontiguousarray(padded[top : top + height, left : left + width])


def moving_frame(index: int, step: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``index`` (image, object mask) with the scene moved by ``index * step`` (dx, dy) pixels."""
    image, mask = sample_scene_and_object()
    dx, dy = index * step[0], index * step[1]
    return shifted(image, dx, dy), shifted(mask, dx, dy)


def edge_box(mask: np.ndarray) -> list[int]:
    """[x0, y0, x1, y1] pixel edges around a bool [H, W] mask (the box MaskTrack carries)."""
    x, y, w, h = mask_bbox_xywh(mask)
    return [x, y, x + w, y + h]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))


def write_video(path, frames, fps: int = 10) -> None:
    """RGB uint8 [H, W, 3] frames -> an MP4 (H.264 where the wheel has it, else MPEG-4); needs PyAV."""
    import av

    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
