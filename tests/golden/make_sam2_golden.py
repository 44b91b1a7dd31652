"""Make golden outputs of the OFFICIAL SAM 2 code (``sam2``, SAM2ImagePredictor) on seeded random weights.

Run in a throw-away venv that has the official package (never in CI):

    python3 -m venv /tmp/sam2venv && /tmp/sam2venv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/sam2venv/bin/pip install hydra-core iopath tqdm
    git clone <facebookresearch/sam2> /tmp/sam2src          # tested at 2b90b9f (2024-12-15)
    SAM2_BUILD_CUDA=0 /tmp/sam2venv/bin/pip install --no-deps --no-build-isolation -e /tmp/sam2src
    cd /tmp && /tmp/sam2venv/bin/python "$REPO"/tests/golden/make_sam2_golden.py          # small configs (CI)
    cd /tmp && /tmp/sam2venv/bin/python "$REPO"/tests/golden/make_sam2_golden.py --full   # t, s, b+, l (slow tests)
    cd /tmp && /tmp/sam2venv/bin/python "$REPO"/tests/golden/make_sam2_golden.py --keys   # official key lists

(Run it from outside the sam2 checkout: the package refuses to import from its parent directory.)

Each model is built with ``build_sam2(config, None, device="cpu")`` (hydra overrides shrink the trunk
for the CI configs). Every tensor of its state dict, video-only ones included, is replaced by
export/random_weights.py (loaded by path) and a few decoder tensors are scaled (scaled_tensors, recorded);
the result is saved as ``{"model": state_dict}`` and loaded back through ``build_sam2(config, that_file)``,
the official strict loader. The npz records the state dict's key shapes, so tests rebuild the identical
checkpoint from (shapes, seed, scales) alone. To keep the files small, tensors are stored on strided
grids (plus float64 sums of the whole tensors); masks are stored whole, bit-packed. Prompts are recorded
in the original image frame, as SAM2ImagePredictor takes them.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
SEED = 2024
# Strided grids that keep each file near 1 MB: image_embed 64 -> 8, high_res_feats_0 256 -> 16,
# high_res_feats_1 128 -> 16; low-res logits 256 -> 32 and full-res logits H x W -> H/8 x W/8; the
# preprocessed image 1024 -> 64, starting off the grid's corner.
FEATURE_STRIDES = {"image_embed": 8, "high_res_feats_0": 16, "high_res_feats_1": 8}
LOGIT_STRIDE = 8
IMAGE_STRIDE, IMAGE_OFFSET = 16, 3

TRUNK = "++model.image_encoder.trunk"
NECK = "++model.image_encoder.neck"
CONFIGS = {
    # name: (official config, hydra overrides). The small ones keep every class and the 1024 input
    # (SAM2ImagePredictor hard-codes the 256/128/64 feature sizes), with fewer and narrower blocks.
    "sam2.1_small": (
        "configs/sam2.1/sam2.1_hiera_t.yaml",
        # 8 blocks: windows 8 at 256^2, 4 at 128^2, 14 at 64^2 (padded to 70), the stride-32 transition
        # pooling padded 14-windows, window 7 at 32^2 (padded to 35), and one global block (5).
        [
            f"{TRUNK}.embed_dim=32",
            f"{TRUNK}.num_heads=2",
            f"{TRUNK}.stages=[1,2,3,2]",
            f"{TRUNK}.global_att_blocks=[5]",
            f"{NECK}.backbone_channel_list=[256,128,64,32]",
        ],
    ),
    "sam2_small": (
        "configs/sam2/sam2_hiera_l.yaml",
        # SAM 2.0 format, hiera_l's window spec (16 and 8 divide 64 and 32: no padding) and hiera_b+'s
        # 14x14 background positional embedding.
        [
            f"{TRUNK}.window_pos_embed_bkg_spatial_size=[14,14]",
            f"{TRUNK}.embed_dim=24",
            f"{TRUNK}.num_heads=1",
            f"{TRUNK}.stages=[2,1,2,1]",
            f"{TRUNK}.global_att_blocks=[4]",
            f"{NECK}.backbone_channel_list=[192,96,48,24]",
        ],
    ),
    "sam2.1_hiera_t": ("configs/sam2.1/sam2.1_hiera_t.yaml", []),
    "sam2.1_hiera_s": ("configs/sam2.1/sam2.1_hiera_s.yaml", []),
    "sam2.1_hiera_b+": ("configs/sam2.1/sam2.1_hiera_b+.yaml", []),
    "sam2.1_hiera_l": ("configs/sam2.1/sam2.1_hiera_l.yaml", []),
}
# Random weights give low-res logits of ~2 (max ~8): in sam2.1_small every single mask's stability was
# 0.91-0.96 (all fall back) and the +-32 clamp never acted. So the hypernetwork heads' last layers are
# scaled after randomising: token 0 so that some prompts are stable and some not (measured per config),
# tokens 1..3 x5 (logits past 32).
TOKEN0_SCALE = {
    "sam2.1_small": 3.0,
    "sam2_small": 1.0,
    "sam2.1_hiera_t": 0.7,
    "sam2.1_hiera_s": 3.0,
    "sam2.1_hiera_b+": 0.3,
    "sam2.1_hiera_l": 0.7,
}
HEAD = "sam_mask_decoder.output_hypernetworks_mlps.{}.layers.2.{}"


def scaled_tensors(name: str) -> dict[str, float]:
    """Key -> factor applied after randomising (recorded in the npz; tests apply the same)."""
    factors = {0: TOKEN0_SCALE[name], 1: 5.0, 2: 5.0, 3: 5.0}
    return {HEAD.format(token, part): factor for token, factor in factors.items() for part in ("weight", "bias")}


STABILITY_THRESH, STABILITY_MARGIN = 0.98, 0.002  # build_sam2's apply_postprocessing threshold
SMALL, FULL = ("sam2.1_small", "sam2_small"), ("sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l")
IMAGES: list[np.ndarray] = []  # filled by main(): 240 x 320 and 150 x 100, both non-square
# Which images each config runs (the second small config checks the 2.0 format and other windows on the
# small image only), and which configs record the preprocessing (the same code for all).
IMAGES_OF = {"sam2.1_small": (0, 1), "sam2_small": (1,)} | {name: (0,) for name in FULL}
PREPROCESS = {"sam2.1_small": True, "sam2_small": False} | {name: False for name in FULL}
OFFICIAL_CONFIGS = {
    f"{version}_hiera_{size}": f"configs/{version}/{version}_hiera_{size}.yaml"
    for version in ("sam2", "sam2.1")
    for size in ("t", "s", "b+", "l")
}


def load_random_weights_module():
    path = HERE.parent.parent / "export" / "random_weights.py"
    spec = importlib.util.spec_from_file_location("random_weights", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_reference(name: str, workdir: Path):
    """The official model of config ``name`` with seeded random weights, loaded by the official loader."""
    from sam2.build_sam import build_sam2

    config, overrides = CONFIGS[name]
    skeleton = build_sam2(config, None, device="cpu", hydra_overrides_extra=overrides)
    state_dict = load_random_weights_module().randomize_state_dict(skeleton.state_dict(), SEED)
    scaled = scaled_tensors(name)
    state_dict = {key: value * scaled.get(key, 1.0) for key, value in state_dict.items()}
    checkpoint = workdir / f"{name}.pt"
    torch.save({"model": state_dict}, checkpoint)
    model = build_sam2(config, str(checkpoint), device="cpu", hydra_overrides_extra=overrides)
    shapes = {key: list(value.shape) for key, value in state_dict.items()}
    return model, shapes


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


def make_large_image(height: int = 1280, width: int = 1100) -> np.ndarray:
    """A sharp-edged image larger than 1024 on both sides (antialiased downscaling), made with integer
    arithmetic only, so tests rebuild it bit for bit (tests/test_sam2_golden_parity.py has the same)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.int64)
    red = (xx * 7 + yy * 3) % 256
    green = ((xx // 5) ^ (yy // 3)) % 256
    blue = (xx * yy // 97) % 256
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def strided(array: np.ndarray, stride: int, offset: int = 0) -> np.ndarray:
    return np.ascontiguousarray(array[..., offset::stride, offset::stride])


def record_tensor(record: dict, key: str, array: np.ndarray, stride: int, offset: int = 0) -> None:
    array = np.asarray(array, dtype=np.float32)
    record[f"{key}_strided"] = strided(array, stride, offset)
    record[f"{key}_sum"] = np.float64(array.sum(dtype=np.float64))
    record[f"{key}_sumsq"] = np.float64(np.square(array, dtype=np.float64).sum())


def record_selection(model) -> list:
    """Wrap the decoder's dynamic single-mask choice so each call appends (stability [B], token [B])."""
    decoder = model.sam_mask_decoder
    original = decoder._dynamic_multimask_via_stability
    calls = []

    def wrapped(all_mask_logits, all_iou_scores):
        stability = decoder._get_stability_scores(all_mask_logits[:, 0:1]).reshape(-1)
        best = torch.argmax(all_iou_scores[:, 1:], dim=-1) + 1
        stable = stability >= decoder.dynamic_multimask_stability_thresh
        calls.append((stability.numpy().copy(), torch.where(stable, 0, best).numpy().copy()))
        return original(all_mask_logits, all_iou_scores)

    decoder._dynamic_multimask_via_stability = wrapped
    return calls


def candidate_point_sets(height: int, width: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Several-point prompts (2-5 points, fg/bg) to search for a stable and an unstable single mask."""
    rng = np.random.default_rng(height * 1000 + width)
    sets = []
    for count in [2, 3, 4, 5] * 15:
        coords = rng.uniform([0, 0], [width, height], size=(count, 2)).astype(np.float32)
        sets.append((coords, rng.integers(0, 2, size=count).astype(np.int64)))
    return sets


def find_stability_cases(predictor, calls: list, height: int, width: int) -> dict:
    """One several-point prompt whose single mask is stable (token 0) and one that falls back (token 1..3)."""
    found = {}
    for coords, labels in candidate_point_sets(height, width):
        predictor.predict(point_coords=coords, point_labels=labels, multimask_output=False)
        stability, token = float(calls[-1][0][0]), int(calls[-1][1][0])
        if abs(stability - STABILITY_THRESH) < STABILITY_MARGIN:
            continue  # a few pixels' rounding could flip this choice: not a fair parity case
        kind = "points_stable" if token == 0 else "points_fallback"
        found.setdefault(kind, (coords, labels))
        if len(found) == 2:
            break
    calls.clear()
    missing = {"points_stable", "points_fallback"} - set(found)
    if missing:
        raise RuntimeError(f"no candidate prompt gave {missing}; widen candidate_point_sets")
    return found


def prompt_cases(predictor, calls: list, height: int, width: int) -> list[dict]:
    """The recorded cases (original frame). ``mask_input`` is filled in from the first case's best mask."""
    cx, cy = width * 0.4, height * 0.55
    box = np.array([width * 0.2, height * 0.25, width * 0.7, height * 0.8], dtype=np.float32)
    boxes = np.array([box, [5, 8, width * 0.5, height * 0.45], [width * 0.6, height * 0.1, width - 3, height - 2]])
    points = np.array([[cx, cy], [width * 0.8, height * 0.2], [width * 0.3, height * 0.7]], dtype=np.float32)
    stability = find_stability_cases(predictor, calls, height, width)
    cases = [
        dict(name="one_point_multi", coords=points[:1], labels=np.array([1]), multimask=True),
        dict(name="points_stable", coords=stability["points_stable"][0], labels=stability["points_stable"][1]),
        dict(name="points_fallback", coords=stability["points_fallback"][0], labels=stability["points_fallback"][1]),
        dict(name="box", box=box),
        dict(name="box_multi", box=box, multimask=True),
        dict(name="box_points", coords=points[1:3], labels=np.array([0, 1]), box=box),
        dict(name="mask_input", coords=points[:2], labels=np.array([1, 0]), mask_input=True),
        dict(name="mask_only", mask_input=True),
        dict(name="boxes_batch", box=boxes.astype(np.float32)),
    ]
    return [{"coords": None, "labels": None, "box": None, "mask_input": None, "multimask": False} | c for c in cases]


def run_cases(predictor, calls: list, image: np.ndarray, prefix: str, record: dict) -> None:
    height, width = image.shape[:2]
    predictor.set_image(image)
    features = predictor._features
    record[f"{prefix}/image"] = image
    outputs = {"image_embed": features["image_embed"]}
    outputs |= {f"high_res_feats_{level}": feature for level, feature in enumerate(features["high_res_feats"])}
    for name, feature in outputs.items():
        record_tensor(record, f"{prefix}/{name}", feature.numpy(), FEATURE_STRIDES[name])
    previous_logits = None
    for case in prompt_cases(predictor, calls, height, width):
        key = f"{prefix}/{case['name']}"
        mask_input = previous_logits if case["mask_input"] is not None else None
        calls.clear()
        logits, scores, low_res = predictor.predict(
            point_coords=case["coords"],
            point_labels=case["labels"],
            box=case["box"],
            mask_input=mask_input,
            multimask_output=case["multimask"],
            return_logits=True,
        )
        if case["name"] == "one_point_multi":
            # The next prompt's mask input, rounded to float16 so the file stores it exactly in half the bytes.
            previous_logits = low_res[np.argmax(scores)][None].astype(np.float16)
            record[f"{prefix}/mask_input"] = previous_logits
            previous_logits = previous_logits.astype(np.float32)
        for field in ("coords", "labels", "box"):
            if case[field] is not None:
                record[f"{key}/{field}"] = case[field]
        record[f"{key}/multimask"] = np.bool_(case["multimask"])
        if calls:  # single-mask output: the dynamic choice of token
            record[f"{key}/stability"], record[f"{key}/tokens"] = calls[-1]
        record[f"{key}/scores"] = scores
        record[f"{key}/low_res_strided"] = strided(low_res, LOGIT_STRIDE)
        record[f"{key}/low_res_max_abs"] = np.float32(np.abs(low_res).max())
        record[f"{key}/logits_strided"] = strided(logits, LOGIT_STRIDE)
        record[f"{key}/masks_packed"] = np.packbits(logits > 0.0, axis=-1)
        record[f"{key}/masks_shape"] = np.array(logits.shape)


def record_preprocessing(predictor, images: list[np.ndarray], record: dict) -> None:
    """The official transform (ToTensor, Resize((1024, 1024)) with antialias, Normalize) of each image."""
    for index, image in enumerate(images):
        tensor = predictor._transforms(image)[None].numpy()
        record_tensor(record, f"preprocess{index}/tensor", tensor, IMAGE_STRIDE, IMAGE_OFFSET)
        record[f"preprocess{index}/shape"] = np.array(image.shape)


def make_golden(name: str, workdir: Path) -> None:
    import sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    model, shapes = build_reference(name, workdir)
    predictor = SAM2ImagePredictor(model)
    calls = record_selection(model)
    record = {
        "seed": np.int64(SEED),
        "config": np.str_(CONFIGS[name][0]),
        "overrides": np.str_(json.dumps(CONFIGS[name][1])),
        "state_dict_shapes": np.str_(json.dumps(shapes)),
        "scaled_tensors": np.str_(json.dumps(scaled_tensors(name))),
        "torch_version": np.str_(torch.__version__),
        "sam2_path": np.str_(str(Path(sam2.__file__).parent)),
        "feature_strides": np.str_(json.dumps(FEATURE_STRIDES)),
        "logit_stride": np.int64(LOGIT_STRIDE),
        "image_stride": np.array([IMAGE_STRIDE, IMAGE_OFFSET]),
    }
    with torch.no_grad():
        if PREPROCESS[name]:
            record_preprocessing(predictor, [IMAGES[index] for index in IMAGES_OF[name]] + [make_large_image()], record)
        for index in IMAGES_OF[name]:
            run_cases(predictor, calls, IMAGES[index], f"image{index}", record)
    out = HERE / f"{name}.npz"
    np.savez_compressed(out, **record)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB)")


def write_official_keys() -> None:
    """Key -> shape of every official config's state dict (its drop-path schedule needs real tensors)."""
    from sam2.build_sam import build_sam2

    keys = {}
    for name, config in OFFICIAL_CONFIGS.items():
        model = build_sam2(config, None, device="cpu")
        keys[name] = {key: list(value.shape) for key, value in model.state_dict().items()}
        print(f"{name}: {len(keys[name])} keys")
    out = HERE / "sam2_official_keys.json.gz"
    with gzip.open(out, "wt") as handle:
        json.dump(keys, handle, sort_keys=True)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the four full sizes, hiera_t to hiera_l (slow tests)")
    parser.add_argument("--keys", action="store_true", help="key shapes of the 8 official configs")
    parser.add_argument("--only", choices=list(CONFIGS), help="one config")
    args = parser.parse_args()
    if args.keys:
        write_official_keys()
        return
    torch.manual_seed(0)
    IMAGES.extend([make_image(240, 320, 1), make_image(150, 100, 2)])
    with tempfile.TemporaryDirectory() as workdir:
        for name in [args.only] if args.only else FULL if args.full else SMALL:
            make_golden(name, Path(workdir))


if __name__ == "__main__":
    main()
