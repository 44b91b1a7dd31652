"""Make golden outputs of the OFFICIAL SAM / MobileSAM code on seeded random weights.

Run in a throw-away venv that has the official packages (never in CI):

    python -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 \
        segment-anything mobilesam-mirror timm
    /tmp/refvenv/bin/python tests/golden/make_golden.py            # small configs (CI)
    /tmp/refvenv/bin/python tests/golden/make_golden.py --full     # full vit_b and vit_t (slow tests)

Weights come from export/random_weights.py (loaded by path), applied to the official model's own
state dict, so tests rebuild identical weights for our modeling from (config, seed) alone. To keep the
files small, embeddings and low-res logits are stored on a stride-4 grid; masks are stored whole
(bit-packed). Every case records its prompts in the original image frame, as SamPredictor takes them.
"""

from __future__ import annotations

import argparse
import importlib.util
from functools import partial
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
SEED = 1234
STRIDE = 4

CONFIGS = {
    # name: (encoder kind, encoder kwargs)
    "vit_small": ("vit", dict(embed_dim=64, depth=2, num_heads=2, global_attn_indexes=(1,))),
    "tiny_vit_small": (
        "tiny_vit",
        dict(embed_dims=[32, 64, 80, 320], depths=[1, 1, 2, 1], num_heads=[1, 2, 5, 10], window_sizes=[7, 7, 14, 7]),
    ),
    "vit_b": ("vit", dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11))),
    "vit_t": (
        "tiny_vit",
        dict(embed_dims=[64, 128, 160, 320], depths=[2, 2, 6, 2], num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7]),
    ),
}
SMALL, FULL = ("vit_small", "tiny_vit_small"), ("vit_b", "vit_t")


def load_random_weights_module():
    path = HERE.parent.parent / "export" / "random_weights.py"
    spec = importlib.util.spec_from_file_location("random_weights", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_official(kind: str, encoder_kwargs: dict):
    """The official Sam with the given encoder and the standard prompt encoder / mask decoder."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    if kind == "vit":
        encoder = ImageEncoderViT(
            img_size=1024,
            patch_size=16,
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            qkv_bias=True,
            use_rel_pos=True,
            window_size=14,
            out_chans=256,
            **encoder_kwargs,
        )
    else:
        from mobile_sam.modeling.tiny_vit_sam import TinyViT

        encoder = TinyViT(
            img_size=1024,
            in_chans=3,
            num_classes=1000,
            mlp_ratio=4.0,
            drop_rate=0.0,
            drop_path_rate=0.0,
            mbconv_expand_ratio=4.0,
            local_conv_size=3,
            **encoder_kwargs,
        )
    return Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(
            embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024), mask_in_chans=16
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
            transformer_dim=256,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    ).eval()


def make_image(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth synthetic RGB scene (gradients + discs) so resizing and masks are non-trivial."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([xx / width, yy / height, 0.5 + 0.5 * np.sin(xx / 9.0 + yy / 13.0)], axis=-1) * 160
    for _ in range(6):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(10, min(height, width) / 3)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, size=3)
    image += rng.normal(0, 4, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def prompt_cases(height: int, width: int) -> list[dict]:
    """Prompts in the original image frame: (name, coords, labels, box, multimask)."""
    cx, cy = width * 0.4, height * 0.55
    box = np.array([width * 0.2, height * 0.25, width * 0.7, height * 0.8], dtype=np.float32)
    points3 = np.array([[cx, cy], [width * 0.8, height * 0.2], [width * 0.3, height * 0.7]], dtype=np.float32)
    return [
        dict(name="one_point_multi", coords=points3[:1], labels=np.array([1]), box=None, multimask=True),
        dict(name="one_point_single", coords=points3[:1], labels=np.array([1]), box=None, multimask=False),
        dict(name="points_fg_bg", coords=points3, labels=np.array([1, 0, 1]), box=None, multimask=False),
        dict(name="box", coords=None, labels=None, box=box, multimask=False),
        dict(name="box_multi", coords=None, labels=None, box=box, multimask=True),
        dict(name="box_point", coords=points3[1:2], labels=np.array([0]), box=box, multimask=False),
        dict(name="mask_input", coords=points3[:2], labels=np.array([1, 0]), box=None, multimask=False),
    ]


def run_cases(predictor, image: np.ndarray, prefix: str, record: dict) -> None:
    height, width = image.shape[:2]
    predictor.set_image(image)
    embedding = predictor.get_image_embedding().numpy()
    record[f"{prefix}/image"] = image
    record[f"{prefix}/embedding_strided"] = embedding[:, :, ::STRIDE, ::STRIDE]
    record[f"{prefix}/embedding_sum"] = np.float64(embedding.sum(dtype=np.float64))
    previous_logits = None
    for case in prompt_cases(height, width):
        mask_input = None
        if case["name"] == "mask_input":
            mask_input = previous_logits
            record[f"{prefix}/{case['name']}/mask_input"] = mask_input
        masks, scores, logits = predictor.predict(
            point_coords=case["coords"],
            point_labels=case["labels"],
            box=case["box"],
            mask_input=mask_input,
            multimask_output=case["multimask"],
        )
        if case["name"] == "one_point_multi":
            previous_logits = logits[np.argmax(scores)][None]
        key = f"{prefix}/{case['name']}"
        for field in ("coords", "labels", "box"):
            if case[field] is not None:
                record[f"{key}/{field}"] = case[field]
        record[f"{key}/multimask"] = np.bool_(case["multimask"])
        record[f"{key}/scores"] = scores
        record[f"{key}/logits_strided"] = logits[:, ::STRIDE, ::STRIDE]
        record[f"{key}/masks_packed"] = np.packbits(masks, axis=-1)
        record[f"{key}/masks_shape"] = np.array(masks.shape)


def make_golden(name: str, images: list[np.ndarray]) -> None:
    from segment_anything import SamPredictor

    kind, encoder_kwargs = CONFIGS[name]
    write_golden(name, build_official(kind, encoder_kwargs), SamPredictor, images)


def write_golden(name: str, model, predictor_type, images: list[np.ndarray]) -> None:
    """Seed ``model``'s weights, run every case on ``images`` through ``predictor_type(model)`` and write
    ``<name>.npz``."""
    random_weights = load_random_weights_module()
    model.load_state_dict(random_weights.randomize_state_dict(model.state_dict(), SEED))
    model.eval()  # again: MobileSAM's TinyViT caches its attention biases when eval() runs (README does this too)
    record = {"seed": np.int64(SEED), "stride": np.int64(STRIDE), "torch_version": np.str_(torch.__version__)}
    with torch.no_grad():
        for index, image in enumerate(images):
            run_cases(predictor_type(model), image, f"image{index}", record)
    out = HERE / f"{name}.npz"
    np.savez_compressed(out, **record)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full-size vit_b and vit_t (slow tests)")
    args = parser.parse_args()
    torch.manual_seed(0)
    images = [make_image(240, 320, 1), make_image(150, 100, 2)]
    for name in FULL if args.full else SMALL:
        make_golden(name, images if not args.full else images[:1])


if __name__ == "__main__":
    main()
