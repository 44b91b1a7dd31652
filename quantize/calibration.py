"""Images for calibration and for the fidelity gate, turned into encoder inputs by the runtime's own code.

- Calibration: generated scenes from the default model's training distribution (seeds in the training
  range, far past what training used), or every readable image of a folder (``--calib DIR``).
- Gate: the first images of the held-out synthetic benchmark, or a folder (``--gate DIR``). They are
  never calibration images, so the gate measures what calibration did not see.

Encoder inputs are made exactly as ``SamPredictor.encode`` makes them (resize the longest side,
normalize, pad): [1, 3, S, S] float32.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from sam_edge.quantize.recipes import DEFAULT_CALIBRATION_IMAGES, DEFAULT_GATE_IMAGES
from sam_edge.runtime.errors import InputFileError, InvalidInputError
from sam_edge.runtime.image_io import load_image
from sam_edge.runtime.interface import SAM2_ENCODER
from sam_edge.runtime.metadata import GraphMetadata
from sam_edge.runtime.sam2_transforms import squash_and_normalize
from sam_edge.runtime.transforms import normalize_and_pad, resize_longest_side
from sam_edge.scenes import DEFAULT_CONFIG, HeldOutBenchmark, generate_scene, training_seed

# Training drew scene i from training_seed(i) for i < ~10^4; calibration starts far above that.
CALIBRATION_SCENE_OFFSET = 5_000_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class ImageSource:
    """A named, ordered list of images loaded on demand (each call returns an HxWx3 uint8 RGB array)."""

    description: str
    loaders: tuple[Callable[[], np.ndarray], ...]

    def __len__(self) -> int:
        return len(self.loaders)

    def images(self) -> Iterator[np.ndarray]:
        for load in self.loaders:
            yield load()


def generated_calibration(count: int = DEFAULT_CALIBRATION_IMAGES) -> ImageSource:
    """``count`` generated training-distribution scenes (never benchmark scenes)."""
    _check_count(count, "calibration images")
    seeds = [training_seed(CALIBRATION_SCENE_OFFSET + i) for i in range(count)]
    loaders = tuple((lambda seed=seed: generate_scene(seed, DEFAULT_CONFIG).image) for seed in seeds)
    return ImageSource(f"{count} generated scenes (seeds {seeds[0]}..{seeds[-1]})", loaders)


def benchmark_gate(count: int = DEFAULT_GATE_IMAGES) -> ImageSource:
    """The first ``count`` scenes of the held-out synthetic benchmark."""
    _check_count(count, "gate images")
    benchmark = HeldOutBenchmark(count)
    loaders = tuple((lambda index=index: benchmark[index].image) for index in range(len(benchmark)))
    return ImageSource(f"first {count} held-out benchmark scenes", loaders)


def folder_images(directory: str | Path, limit: int | None = None, role: str = "calibration") -> ImageSource:
    """The readable images of ``directory`` (sorted by name, at most ``limit``).

    Unreadable files are skipped with a warning; a folder without any readable image is an error.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputFileError(f"{role} folder {directory} does not exist or is not a directory")
    candidates = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    readable = [path for path in candidates if _readable(path)]
    if not readable:
        raise InputFileError(
            f"{role} folder {directory} has no readable images ({len(candidates)} candidates); "
            f"expected files Pillow can read with a suffix in {', '.join(IMAGE_SUFFIXES)}"
        )
    readable = readable[:limit] if limit else readable
    loaders = tuple((lambda path=path: load_image(path)) for path in readable)
    return ImageSource(f"{len(readable)} images from {directory}", loaders)


def _readable(path: Path) -> bool:
    try:
        load_image(path)
        return True
    except (InputFileError, InvalidInputError) as error:
        print(f"skipping {path.name}: {error}", file=sys.stderr)
        return False


def _check_count(count: int, what: str) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInputError(f"number of {what} must be an int >= 1; got {count!r}")


def encoder_input(rgb: np.ndarray, metadata: GraphMetadata) -> np.ndarray:
    """HxWx3 uint8 RGB -> the encoder's [1, 3, S, S] float32 input, as SamPredictor.encode makes it
    (SAM: longest side resized and padded; SAM 2, a ``sam2_encoder`` graph: squashed, not padded)."""
    if metadata.part == SAM2_ENCODER.part:
        return squash_and_normalize(rgb, metadata.image_size, metadata.pixel_mean, metadata.pixel_std)
    resized = resize_longest_side(rgb, metadata.image_size)
    return normalize_and_pad(resized, metadata.image_size, metadata.pixel_mean, metadata.pixel_std)


def encoder_inputs(source: ImageSource, metadata: GraphMetadata, what: str) -> list[np.ndarray]:
    """Every image of ``source`` as an encoder input, with a progress bar on stderr."""
    bar = ProgressBar(what, len(source))
    inputs = []
    for rgb in source.images():
        inputs.append(encoder_input(rgb, metadata))
        bar.advance()
    return inputs


class ProgressBar:
    """``what [#####.....] 5/10`` on stderr, redrawn in place on a terminal, one final line otherwise."""

    WIDTH = 24

    def __init__(self, what: str, total: int, stream=None) -> None:
        self.what, self.total, self.done = what, max(total, 1), 0
        self.stream = stream or sys.stderr
        self.live = getattr(self.stream, "isatty", lambda: False)()
        self._draw()

    def advance(self, steps: int = 1) -> None:
        self.done = min(self.total, self.done + steps)
        self._draw()

    def _draw(self) -> None:
        filled = self.WIDTH * self.done // self.total
        line = f"{self.what} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total}"
        if self.live:
            self.stream.write("\r" + line + ("\n" if self.done == self.total else ""))
        elif self.done == self.total:
            self.stream.write(line + "\n")
        self.stream.flush()


def calibration_feeds(inputs: Sequence[np.ndarray], input_name: str = "image") -> list[dict[str, np.ndarray]]:
    """Encoder inputs as the feed dicts calibration APIs iterate over."""
    return [{input_name: tensor} for tensor in inputs]
