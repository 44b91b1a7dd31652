"""Write tests/golden/transforms_golden.npz from the OFFICIAL segment_anything transforms.

Run in the reference venv (torch 2.14.1, torchvision 0.29.1, segment-anything), from the repo root:

    /work/refvenv/bin/python tests/golden/make_transforms_golden.py

What it records (seeded; small enough to commit, < 300 kB):

- ``shape_hw`` [N, 2] and ``shape_128`` / ``shape_1024`` [N, 2]: get_preprocess_shape on many sizes;
- per test image i (odd sizes, seeded random uint8 RGB ``img_i``):
  - ``resized128_i``: ResizeLongestSide(128).apply_image, in full;
  - ``resized1024_shape_i`` and ``resized1024_sha_i`` (sha256 of the C-order uint8 bytes) plus its
    middle row ``resized1024_row_i`` for diagnosis;
  - ``pre128_sha_i`` / ``pre128_sum_i``: Sam.preprocess (image_size 128) of the 128 resize, computed
    as SamPredictor.set_image does (sha256 of the float32 [1, 3, 128, 128] bytes, float64 sum);
  - ``points_i`` [5, 2] / ``boxes_i`` [3, 4] in original pixels and their apply_coords /
    apply_boxes results for targets 128 and 1024 (float64, as the official code returns them);
- ``pattern1024_shape_j`` / ``pattern1024_sha_j``: apply_image(1024) of the formula images
  ``pattern_image(*PATTERN_SIZES[j])`` (larger than 1024, so Pillow shrinks them);
- ``low_res`` [1, 2, 32, 32] float32 logits and ``post_i`` = Sam.postprocess_masks(low_res,
  input_size of the 128 resize, original_size of image i) for a tiny Sam with image_size 128.
"""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path

import numpy as np
import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from segment_anything.utils.transforms import ResizeLongestSide

OUT = Path(__file__).with_name("transforms_golden.npz")
IMAGE_SIZES = [(37, 53), (53, 37), (1, 5), (141, 29), (101, 45), (128, 40), (3, 200)]
POSTPROCESS_IMAGES = [0, 1, 2, 3, 6]  # indices into IMAGE_SIZES, keeps the file small
PATTERN_SIZES = [(1500, 1001), (999, 2048)]  # large images rebuilt from a formula by the tests


def pattern_image(h: int, w: int) -> np.ndarray:
    """A deterministic, detailed HxWx3 uint8 image (no RNG, so tests can rebuild it exactly)."""
    y, x, c = np.ogrid[0:h, 0:w, 0:3]
    return ((y * 7 + x * 13 + c * 50) ^ (x * y // 3)).astype(np.uint8)


def build_tiny_sam(image_size: int = 128) -> Sam:
    """The official Sam class with a tiny encoder/decoder; only its transforms are used here."""
    embed = 8
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=image_size,
            patch_size=16,
            embed_dim=16,
            depth=1,
            num_heads=1,
            out_chans=embed,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=embed,
            image_embedding_size=(image_size // 16, image_size // 16),
            input_image_size=(image_size, image_size),
            mask_in_chans=4,
        ),
        mask_decoder=MaskDecoder(
            transformer_dim=embed,
            transformer=TwoWayTransformer(depth=1, embedding_dim=embed, mlp_dim=16, num_heads=1),
            iou_head_hidden_dim=8,
        ),
    ).eval()


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def preprocess_like_predictor(sam: Sam, resized: np.ndarray) -> np.ndarray:
    """SamPredictor.set_image's tensor path: HWC uint8 -> 1x3xHxW -> Sam.preprocess."""
    x = torch.as_tensor(resized).permute(2, 0, 1).contiguous()[None, :, :, :]
    with torch.no_grad():
        return sam.preprocess(x).numpy()


def record_image(out: dict, i: int, rng: np.random.Generator, sam: Sam) -> None:
    h, w = IMAGE_SIZES[i]
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    out[f"img_{i}"] = image
    t128, t1024 = ResizeLongestSide(128), ResizeLongestSide(1024)
    out[f"resized128_{i}"] = t128.apply_image(image)
    big = t1024.apply_image(image)
    out[f"resized1024_shape_{i}"] = np.array(big.shape)
    out[f"resized1024_sha_{i}"] = np.array(sha256(big))
    out[f"resized1024_row_{i}"] = big[big.shape[0] // 2]
    pre = preprocess_like_predictor(sam, out[f"resized128_{i}"])
    assert pre.dtype == np.float32 and pre.shape == (1, 3, 128, 128)
    out[f"pre128_sha_{i}"] = np.array(sha256(pre))
    out[f"pre128_sum_{i}"] = np.array(pre.astype(np.float64).sum())
    # Points on the border, the corners and inside (fractional), boxes in XYXY.
    points = np.concatenate([np.array([[0.0, 0.0], [w, h], [w - 1, h - 1]]), rng.uniform(0, 1, (2, 2)) * [w, h]])
    boxes = np.sort(rng.uniform(0, 1, (3, 2, 2)) * [w, h], axis=1).reshape(3, 4)
    out[f"points_{i}"], out[f"boxes_{i}"] = points, boxes
    for name, tr in (("128", t128), ("1024", t1024)):
        out[f"points{name}_{i}"] = tr.apply_coords(points, (h, w))
        out[f"boxes{name}_{i}"] = tr.apply_boxes(boxes, (h, w))


def record_postprocess(out: dict, rng: np.random.Generator, sam: Sam) -> None:
    low_res = (rng.standard_normal((1, 2, 32, 32)) * 4.0).astype(np.float32)
    out["low_res"] = low_res
    for i in POSTPROCESS_IMAGES:
        original_size = IMAGE_SIZES[i]
        input_size = ResizeLongestSide.get_preprocess_shape(*original_size, 128)
        with torch.no_grad():
            masks = sam.postprocess_masks(torch.from_numpy(low_res), input_size, original_size)
        out[f"post_{i}"] = masks.numpy()


def record_patterns(out: dict) -> None:
    """Downscaling real-size images to 1024 (Pillow's antialiased bilinear path): sha256 only."""
    for j, (h, w) in enumerate(PATTERN_SIZES):
        big = ResizeLongestSide(1024).apply_image(pattern_image(h, w))
        out[f"pattern1024_shape_{j}"] = np.array(big.shape)
        out[f"pattern1024_sha_{j}"] = np.array(sha256(big))


def record_shapes(out: dict, rng: np.random.Generator) -> None:
    fixed = [(1500, 1000), (1000, 1500), (1024, 1024), (1, 1), (683, 1024), (1, 6000), (2049, 3)]
    sizes = np.concatenate([np.array(fixed), rng.integers(1, 6001, size=(300, 2))])
    out["shape_hw"] = sizes
    for target in (128, 1024):
        out[f"shape_{target}"] = np.array(
            [ResizeLongestSide.get_preprocess_shape(int(h), int(w), target) for h, w in sizes]
        )


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(20240611)
    sam = build_tiny_sam(128)
    out: dict = {"image_sizes": np.array(IMAGE_SIZES), "postprocess_images": np.array(POSTPROCESS_IMAGES)}
    for i in range(len(IMAGE_SIZES)):
        record_image(out, i, rng, sam)
    record_postprocess(out, rng, sam)
    record_shapes(out, rng)
    record_patterns(out)
    out["versions"] = np.array([torch.__version__, __import__("torchvision").__version__])
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.1f} kB, {len(out)} arrays)")


if __name__ == "__main__":
    main()
