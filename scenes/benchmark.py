"""The held-out benchmark: a fixed list of seeds and a frozen config, never stored as image files.

Seed split (the contract between training and evaluation):
- seeds ``[0, TRAINING_SEED_START)`` are held out: the benchmark (``BENCHMARK_SEEDS`` = 0..299), tests,
  examples and the bundled sample scene live there;
- training draws seeds from ``TRAINING_SEED_START`` (1,000,000) upward only, via ``training_seed(i)``,
  and may call ``check_training_seed`` on seeds it gets elsewhere.

The benchmark uses ``BENCHMARK_CONFIG``, spelled out here rather than taken from ``DEFAULT_CONFIG``, so
tuning the training distribution cannot silently change the benchmark. Changing the generator itself
does change it: then update ``BENCHMARK_INSTANCES`` (checked by a slow test) and say so in the change.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from sam_edge.runtime.errors import InvalidInputError

from .config import SceneConfig
from .generator import Scene, generate_scene

TRAINING_SEED_START = 1_000_000
BENCHMARK_IMAGES = 300
BENCHMARK_SEEDS = range(0, BENCHMARK_IMAGES)
# Total kept instances over all BENCHMARK_SEEDS under BENCHMARK_CONFIG (tests/test_scenes.py, slow).
BENCHMARK_INSTANCES = 4188

BENCHMARK_CONFIG = SceneConfig(
    long_side=(256, 1024),
    aspect_ratio=(0.5, 2.0),
    object_count=(8, 32),
    object_size=(0.08, 0.7),
    distractor_count=(4, 40),
    distractor_size=(0.01, 0.05),
    shape_weights={"polygon": 1.0, "star": 0.7, "ellipse": 1.0, "blob": 1.3, "thin": 1.2, "holed": 0.6},
    texture_weights={
        "flat": 1.0,
        "stripes": 0.8,
        "linear_gradient": 0.8,
        "radial_gradient": 0.6,
        "checker": 0.4,
        "dots": 0.4,
        "noise": 0.8,
    },
    shading_probability=0.5,
    thin_width=(0.006, 0.018),
    blur_sigma=(0.0, 1.0),
    noise_std=(0.0, 6.0),
    min_visible_fraction=0.002,
    min_visible_pixels=64,
)


def training_seed(index: int) -> int:
    """The seed of training scene `index` (int >= 0): TRAINING_SEED_START + index, never a held-out seed."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise InvalidInputError(f"training scene index must be an int >= 0, got {index!r}")
    return TRAINING_SEED_START + int(index)


def check_training_seed(seed: int) -> int:
    """Return `seed` if training may use it; raise InvalidInputError for held-out seeds (< 1,000,000)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < TRAINING_SEED_START:
        raise InvalidInputError(
            f"training seed must be an int >= {TRAINING_SEED_START:,} (lower seeds are held out for the "
            f"benchmark, tests and examples), got {seed!r}; use training_seed(index)"
        )
    return int(seed)


class HeldOutBenchmark(Sequence[Scene]):
    """The benchmark as a lazy sequence of scenes: ``bench[i]`` generates scene i on demand.

    seeds: the benchmark's seeds (default BENCHMARK_SEEDS); config: default BENCHMARK_CONFIG. Pass
    ``limit`` to use only the first scenes (quick checks); the full benchmark is what reports quote.
    """

    def __init__(self, limit: int | None = None, config: SceneConfig = BENCHMARK_CONFIG) -> None:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidInputError(f"benchmark limit must be an int >= 1 or None, got {limit!r}")
        self.seeds = BENCHMARK_SEEDS if limit is None else BENCHMARK_SEEDS[:limit]
        self.config = config

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index):  # Sequence protocol: an int gives a Scene, a slice a list of them
        if isinstance(index, slice):
            return [generate_scene(seed, self.config) for seed in self.seeds[index]]
        return generate_scene(self.seeds[index], self.config)

    def __iter__(self) -> Iterator[Scene]:
        for seed in self.seeds:
            yield generate_scene(seed, self.config)

    def __repr__(self) -> str:
        return f"HeldOutBenchmark({len(self)} scenes, seeds {self.seeds.start}..{self.seeds.stop - 1})"


def benchmark_scenes(limit: int | None = None) -> Iterator[Scene]:
    """Yield the held-out benchmark's scenes in seed order (all BENCHMARK_IMAGES unless `limit`)."""
    return iter(HeldOutBenchmark(limit))
