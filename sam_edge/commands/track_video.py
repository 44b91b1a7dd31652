"""One mask carried through a video file (runtime/mask_tracking.MaskTrack), written as masks.json + overlay.mp4.

Every frame is decoded; every ``every``-th one (index 0, N, 2N, ...) is encoded and segmented, the
others are skipped. Both outputs are written into a hidden staging directory beside ``out`` and
renamed to ``out`` only once the whole video is done, so an interrupted or failed run leaves nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from sam_edge.commands.video_io import OverlayVideo, VideoInfo, read_frames
from sam_edge.runtime.atomic_write import existing_ancestor, staging_dir
from sam_edge.runtime.mask_stats import encode_rle, mask_bbox_xywh
from sam_edge.runtime.mask_tracking import MaskTrack
from sam_edge.runtime.overlay import render_overlay
from sam_edge.runtime.predictor import SamPredictor

MASKS_FILE, OVERLAY_FILE = "masks.json", "overlay.mp4"


@dataclass(frozen=True)
class TrackPrompt:
    """The first frame's prompt, original pixels: ``point`` (x, y) with ``label``, or ``box`` (x0, y0, x1, y1)."""

    point: tuple[float, float] | None = None
    label: int = 1
    box: tuple[float, float, float, float] | None = None

    def start(self, track: MaskTrack):
        if self.point is not None:
            return track.start(point=self.point, label=self.label)
        return track.start(box=self.box)

    def as_record(self) -> dict:
        return {
            "point": None if self.point is None else [float(v) for v in self.point],
            "label": None if self.point is None else self.label,
            "box": None if self.box is None else [float(v) for v in self.box],
        }


@dataclass
class TrackRun:
    """What a run produced: one record per processed frame, and counts for the summary line."""

    records: list[dict] = field(default_factory=list)
    decoded: int = 0
    lost_at: int | None = None


def frame_record(index: int, time_s: float, mask: np.ndarray | None, score: float | None) -> dict:
    """masks.json's record of one processed frame: COCO RLE of the bool [H, W] mask, or ``lost``."""
    if mask is None:
        return {"frame": index, "time_s": round(time_s, 6), "lost": True, "score": None, "bbox_xywh": None,
                "area": 0, "segmentation": None}  # fmt: skip
    return {
        "frame": index,
        "time_s": round(time_s, 6),
        "lost": False,
        "score": round(float(score), 6),
        "bbox_xywh": list(mask_bbox_xywh(mask)),
        "area": int(mask.sum()),
        "segmentation": encode_rle(mask),
    }


def track_video(
    predictor: SamPredictor,
    info: VideoInfo,
    prompt: TrackPrompt,
    every: int,
    out: Path,
    carry_logits: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> TrackRun:
    """Track ``prompt``'s object through ``info.path``; writes ``out``/masks.json and ``out``/overlay.mp4.

    ``out`` must be missing or an empty directory (checked by the caller). After the mask is lost
    (empty), the remaining processed frames are recorded as lost without running the model.
    """
    total = -(-info.frames // every)
    track, run = MaskTrack(predictor, carry_logits=carry_logits), TrackRun()
    with staging_dir(existing_ancestor(out.absolute().parent), out.name) as staging:
        overlay = OverlayVideo(staging / OVERLAY_FILE, info.size, info.fps / every)
        for index, time_s, rgb in read_frames(info.path):
            run.decoded += 1
            if index % every:
                continue
            first = not run.records
            mask, score = _segment(predictor, track, prompt, rgb, first, lost=run.lost_at is not None)
            if mask is None and run.lost_at is None:
                run.lost_at = index
            run.records.append(frame_record(index, time_s, mask, score))
            overlay.write(_overlay_frame(rgb, mask, prompt if first else None))
            if progress is not None:
                progress(len(run.records), max(total, len(run.records)))
        overlay.close()
        if progress is not None and len(run.records) < total:
            progress(len(run.records), len(run.records))  # fewer frames than the container said: end the line
        document = _document(info, prompt, every, carry_logits, predictor.metadata.model_id, run)
        (staging / MASKS_FILE).write_text(json.dumps(document))
        _rename_into_place(staging, out)
    return run


def _segment(predictor, track, prompt, rgb, first: bool, lost: bool) -> tuple[np.ndarray | None, float | None]:
    """(bool [H, W] mask or None when lost, its score) of one processed frame."""
    if lost:
        return None, None
    predictor.set_image(rgb)
    result = prompt.start(track) if first else track.step()
    if result is None or not track.active:
        return None, None
    return result.masks[0], float(result.scores[0])


def _overlay_frame(rgb: np.ndarray, mask: np.ndarray | None, prompt: TrackPrompt | None) -> np.ndarray:
    """RGB uint8 [H, W, 3]: the frame with its mask tinted (and the prompt drawn, on the first frame)."""
    if prompt is None:
        return np.asarray(render_overlay(rgb, mask))
    coords, labels = (None, None) if prompt.point is None else ([prompt.point], [prompt.label])
    return np.asarray(render_overlay(rgb, mask, coords, labels, prompt.box))


def _document(info: VideoInfo, prompt: TrackPrompt, every: int, carry_logits: bool, model_id: str, run) -> dict:
    skipped = run.decoded - len(run.records)
    return {
        "video": str(info.path),
        "model_id": model_id,
        "frame_size_hw": list(info.size),
        "fps": float(info.fps),
        "frames_decoded": run.decoded,
        "every": every,
        "frames_processed": len(run.records),
        "frames_skipped": skipped,
        "skipped": f"frames whose index is not a multiple of {every} were decoded but not segmented ({skipped})",
        "carry": "box+logits" if carry_logits else "box",
        "prompt": prompt.as_record(),
        "lost_at_frame": run.lost_at,
        "frames": run.records,
    }


def _rename_into_place(staging: Path, out: Path) -> None:
    """Make the staged directory ``out`` (its parents created; an empty ``out`` replaced)."""
    os.chmod(staging, 0o777 & ~_umask())
    out.absolute().parent.mkdir(parents=True, exist_ok=True)
    if out.is_dir():
        out.rmdir()  # checked empty before the run
    os.replace(staging, out)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
