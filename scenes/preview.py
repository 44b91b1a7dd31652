"""Save scenes and coloured instance maps as PNGs for eyeballing; ``python -m sam_edge.scenes``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from .config import DEFAULT_CONFIG, SceneConfig
from .generator import Scene, generate_scene


def colorize_instances(scene: Scene) -> np.ndarray:
    """uint8 [H, W, 3]: each kept instance in its own colour over a darkened grey copy of the image.

    Grey marks pixels that belong to no kept instance (background, distractors, dropped slivers).
    """
    palette = _palette(len(scene.kinds))
    grey = scene.image.mean(axis=2, keepdims=True).astype(np.float32) * 0.35
    out = np.repeat(grey, 3, axis=2)
    for k, mask in enumerate(scene.instance_masks):
        out[mask] = palette[k]
    return out.astype(np.uint8)


def _palette(n: int) -> np.ndarray:
    """float32 [n, 3]: well-separated bright colours (golden-ratio hue steps)."""
    import colorsys

    hues = (np.arange(n) * 0.618034) % 1.0
    return np.array([colorsys.hsv_to_rgb(h, 0.75, 1.0) for h in hues], np.float32).reshape(n, 3) * 255


def save_examples(out_dir: str | Path, seeds: Iterable[int], config: SceneConfig = DEFAULT_CONFIG) -> list[Path]:
    """Write <seed>_scene.png and <seed>_instances.png (side by side in <seed>_pair.png) per seed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for seed in seeds:
        scene = generate_scene(seed, config)
        colored = colorize_instances(scene)
        pair = np.concatenate([scene.image, np.full((scene.size[0], 8, 3), 255, np.uint8), colored], axis=1)
        for name, array in (("scene", scene.image), ("instances", colored), ("pair", pair)):
            path = out_dir / f"{seed:07d}_{name}.png"
            Image.fromarray(array).save(path)
            written.append(path)
    return written


# assets/sample_scene.png: held-out seed 1010 (not a benchmark seed) at 640 x 480, picked by eye for
# variety (rings, stripes, dots, checker, thin curves, occlusion); regenerate with --sample.
SAMPLE_SCENE_SEED = 1010
SAMPLE_SCENE_SIZE = (480, 640)


def save_sample(path: str | Path, seed: int = SAMPLE_SCENE_SEED, size: tuple[int, int] = SAMPLE_SCENE_SIZE) -> Scene:
    """Write one scene of exactly (H, W) = size to `path` (the bundled sample image); returns it."""
    height, width = size
    config = SceneConfig(long_side=(max(size),) * 2, aspect_ratio=(width / height,) * 2)
    scene = generate_scene(seed, config)
    Image.fromarray(scene.image).save(path)
    return scene


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sam_edge.scenes",
        description="Write example synthetic scenes and coloured instance maps as PNGs.",
    )
    parser.add_argument("--out", default="scenes_preview", help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default: %(default)s)")
    parser.add_argument("--count", type=int, default=8, help="number of scenes (default: %(default)s)")
    parser.add_argument("--sample", metavar="PNG", help="instead, write the bundled sample scene to PNG")
    args = parser.parse_args(argv)
    if args.sample:
        save_sample(args.sample)
        print(f"wrote sample scene (seed {SAMPLE_SCENE_SEED}) to {args.sample}")
        return 0
    paths = save_examples(args.out, range(args.seed, args.seed + args.count))
    print(f"wrote {len(paths)} PNGs to {args.out}")
    return 0
