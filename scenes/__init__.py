"""sam_edge.scenes: seeded synthetic scenes (dead-leaves style) with per-instance ground truth.

numpy + Pillow only, so training, quantization calibration and ``sam-edge eval`` can all use it::

    from sam_edge.scenes import generate_scene, HeldOutBenchmark, training_seed
    scene = generate_scene(training_seed(0))   # image uint8 [H, W, 3], instance_masks bool [K, H, W]
    for scene in HeldOutBenchmark():           # 300 held-out scenes, seeds 0..299
        ...

``python -m sam_edge.scenes --out DIR`` writes example scenes and coloured instance maps as PNGs.
"""

from .benchmark import (
    BENCHMARK_CONFIG,
    BENCHMARK_IMAGES,
    BENCHMARK_INSTANCES,
    BENCHMARK_SEEDS,
    TRAINING_SEED_START,
    HeldOutBenchmark,
    benchmark_scenes,
    check_training_seed,
    training_seed,
)
from .config import DEFAULT_CONFIG, SHAPE_KINDS, TEXTURE_KINDS, SceneConfig
from .generator import Scene, generate_scene, sample_image_size
from .preview import colorize_instances, save_examples, save_sample

__all__ = [
    "BENCHMARK_CONFIG",
    "BENCHMARK_IMAGES",
    "BENCHMARK_INSTANCES",
    "BENCHMARK_SEEDS",
    "DEFAULT_CONFIG",
    "HeldOutBenchmark",
    "SHAPE_KINDS",
    "Scene",
    "SceneConfig",
    "TEXTURE_KINDS",
    "TRAINING_SEED_START",
    "benchmark_scenes",
    "check_training_seed",
    "colorize_instances",
    "generate_scene",
    "sample_image_size",
    "save_examples",
    "save_sample",
    "training_seed",
]
