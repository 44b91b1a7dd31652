"""Training samples: a generated scene as the encoder input plus per-instance targets.

Frames: the image is resized so its longest side is ``image_size`` (the *input* frame), normalized
and zero-padded to [1, 3, S, S] by the runtime's own transforms (what inference will see). Targets are
instance masks in the padded S x S frame downsampled to the decoder's low-res grid [K, S/4, S/4].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from sam_edge.runtime.transforms import PIXEL_MEAN, PIXEL_STD, normalize_and_pad, preprocess_shape, resize_longest_side
from sam_edge.scenes import generate_scene


@dataclass
class Sample:
    image: torch.Tensor  # [1, 3, S, S] float32, normalized and padded
    low_res_targets: torch.Tensor  # [K, 1, S/4, S/4] float32 in {0, 1}
    input_masks: np.ndarray  # [K, h, w] bool in the input frame (for sampling prompts)
    input_size: tuple[int, int]


def make_sample(seed: int, image_size: int, max_instances: int, rng: np.random.Generator, copies: int = 1) -> Sample:
    """Generate scene ``seed`` and keep up to ``max_instances`` instances chosen at random, each
    ``copies`` times (every copy gets its own prompt: more prompts per encoded image)."""
    scene = generate_scene(seed)
    keep = np.tile(rng.permutation(len(scene.instance_masks))[:max_instances], copies)
    input_size = preprocess_shape(*scene.image.shape[:2], image_size)
    resized = resize_longest_side(scene.image, image_size)
    image = torch.from_numpy(normalize_and_pad(resized, image_size, PIXEL_MEAN, PIXEL_STD))
    input_masks = np.stack([resize_mask(scene.instance_masks[i], input_size) for i in keep])
    return Sample(image, low_res_targets(input_masks, image_size), input_masks, input_size)


def resize_mask(mask: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an HxW bool mask to ``size_hw``."""
    image = Image.fromarray(mask.astype(np.uint8) * 255).resize((size_hw[1], size_hw[0]), Image.NEAREST)
    return np.asarray(image) > 127


def low_res_targets(input_masks: np.ndarray, image_size: int) -> torch.Tensor:
    """[K, h, w] bool (input frame) -> [K, 1, S/4, S/4] float {0, 1}: pad to S x S, 4x4 majority."""
    count, height, width = input_masks.shape
    padded = np.zeros((count, image_size, image_size), np.float32)
    padded[:, :height, :width] = input_masks
    side = image_size // 4
    coverage = padded.reshape(count, side, 4, side, 4).mean(axis=(2, 4))
    return torch.from_numpy((coverage >= 0.5).astype(np.float32))[:, None]
