"""Seeded random weights defined on a state dict, so two implementations can share them exactly.

Values depend only on (seed, key, shape), never on module construction order. The golden-file script
applies this same function to the official model and our tests apply it to ours; identical keys and
shapes then give identical weights without committing large checkpoints. Every tensor is randomised
(default init leaves positional and relative-position tables at zero, which would hide bugs).

This file imports only torch and the standard library: the golden script loads it by path.
"""

from __future__ import annotations

import math
import zlib

import torch


def _tensor_seed(seed: int, key: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(key.encode())) % (2**63)


def random_tensor(key: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """A float32 tensor for parameter ``key`` whose scale keeps activations O(1).

    Linear/conv weights: N(0, 1/fan_in). 1-D weights (norm scales): 1 + N(0, 0.1). BatchNorm running variances:
    U(0.5, 1.5). Everything else (biases, embeddings, positional tables): N(0, 0.1), except the
    prompt encoder's Gaussian frequency matrix, which is N(0, 1) as in the official init.
    """
    generator = torch.Generator().manual_seed(_tensor_seed(seed, key))
    values = torch.randn(shape, generator=generator, dtype=torch.float32)
    if key.endswith("running_var"):
        return torch.rand(shape, generator=generator, dtype=torch.float32) + 0.5
    if key.endswith("positional_encoding_gaussian_matrix"):
        return values
    if key.endswith("weight") and len(shape) >= 2:
        fan_in = math.prod(shape[1:])
        if key.startswith("mask_decoder.output_upscaling"):
            fan_in = shape[0]  # ConvTranspose2d weights are (in, out, kh, kw), kernel == stride
        return values / math.sqrt(fan_in)
    if key.endswith("weight"):
        return 1.0 + 0.1 * values
    return 0.1 * values


def randomize_state_dict(state_dict: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Replace every floating tensor of ``state_dict`` by :func:`random_tensor`; others are kept."""
    randomized = {}
    for key, tensor in state_dict.items():
        if tensor.is_floating_point():
            randomized[key] = random_tensor(key, tuple(tensor.shape), seed).to(tensor.dtype)
        else:
            randomized[key] = tensor.clone()
    return randomized
