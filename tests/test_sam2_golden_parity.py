"""Our SAM 2 modeling vs the official SAM2ImagePredictor (golden files made by tests/golden/make_sam2_golden.py).

Each config's checkpoint is rebuilt in the official format from the recorded key shapes and seed, then
loaded with our loader (variant given, as the small configs are not official sizes).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from mask_policy import assert_masks_agree
from sam2_golden_data import (
    load_sam2_golden,
    make_large_image,
    sam2_cases,
    sam2_golden_spec,
    unpack_masks,
    write_sam2_golden_checkpoint,
)

torch = pytest.importorskip("torch")

ATOL = 1e-4  # logits and scores, our PyTorch vs the official code
MIN_COSINE = 0.99999  # features
FEATURES = ("image_embed", "high_res_feats_0", "high_res_feats_1")
SMALL_CONFIGS = ["sam2.1_small", "sam2_small"]
FULL_CONFIGS = ["sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l"]  # under `slow`


@pytest.fixture(scope="module")
def predictors(tmp_path_factory):
    """Factory: config name -> (golden record, TorchSam2Predictor over the rebuilt checkpoint), cached."""
    from sam_edge.export.sam2_checkpoint import load_sam2
    from sam_edge.export.sam2_predictor import TorchSam2Predictor

    cache = {}

    def make(name: str):
        if name not in cache:
            golden = load_sam2_golden(name)
            path = write_sam2_golden_checkpoint(name, tmp_path_factory.mktemp("sam2") / f"{name}.pt")
            model, _ = load_sam2(path, sam2_golden_spec(name))
            cache[name] = golden, TorchSam2Predictor(model)
        return cache[name]

    return make


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def image_prefixes(golden: dict) -> list[str]:
    return sorted({key.split("/")[0] for key in golden if key.startswith("image") and key.endswith("/image")})


def case_arguments(golden: dict, prefix: str, case: str) -> dict:
    """decode() keyword arguments of one recorded case (boxes always [B, 4])."""
    key = f"{prefix}/{case}"
    box = golden.get(f"{key}/box")
    uses_mask = case in ("mask_input", "mask_only")
    return {
        "point_coords": golden.get(f"{key}/coords"),
        "point_labels": golden.get(f"{key}/labels"),
        "boxes": None if box is None else box.reshape(-1, 4),
        "mask_input": golden[f"{prefix}/mask_input"].astype(np.float32) if uses_mask else None,
        "multimask_output": bool(golden[f"{key}/multimask"]),
    }


def check_features(golden: dict, predictor, prefix: str) -> None:
    strides = json.loads(str(golden["feature_strides"]))
    for name, feature in zip(FEATURES, predictor.features):
        stride, key = strides[name], f"{prefix}/{name}"
        ours = feature.numpy()
        assert ours.shape == predictor.model.spec.feature_shapes[name], name
        reference = golden[f"{key}_strided"]
        np.testing.assert_allclose(ours[..., ::stride, ::stride], reference, atol=ATOL, err_msg=key)
        assert cosine(ours[..., ::stride, ::stride], reference) >= MIN_COSINE, key
        np.testing.assert_allclose(ours.sum(dtype=np.float64), golden[f"{key}_sum"], rtol=1e-5, atol=1e-2)


def check_case(golden: dict, predictor, prefix: str, case: str) -> None:
    key, stride = f"{prefix}/{case}", int(golden["logit_stride"])
    result = predictor.decode(**case_arguments(golden, prefix, case))
    batched = golden.get(f"{key}/box") is not None and golden[f"{key}/box"].ndim == 2
    logits, scores, low_res, tokens = (
        (t.numpy() if batched else t[0].numpy()) for t in (result.logits, result.scores, result.low_res, result.tokens)
    )
    np.testing.assert_allclose(scores, golden[f"{key}/scores"], atol=ATOL, err_msg=key)
    np.testing.assert_allclose(
        low_res[..., ::stride, ::stride], golden[f"{key}/low_res_strided"], atol=ATOL, err_msg=key
    )
    np.testing.assert_allclose(logits[..., ::stride, ::stride], golden[f"{key}/logits_strided"], atol=ATOL, err_msg=key)
    assert np.abs(low_res).max() == pytest.approx(float(golden[f"{key}/low_res_max_abs"]), abs=ATOL), key
    if f"{key}/tokens" in golden:  # single mask: the same token chosen (stable token 0 or the fallback)
        assert tokens.ravel().tolist() == golden[f"{key}/tokens"].tolist(), key
    else:
        assert tokens.tolist() == [1, 2, 3], key
    assert_masks_agree(logits > 0, unpack_masks(golden, key), logits, key)


def assert_matches_golden(name: str, predictors) -> None:
    golden, predictor = predictors(name)
    for prefix in image_prefixes(golden):
        predictor.set_image(golden[f"{prefix}/image"])
        assert predictor.original_size == golden[f"{prefix}/image"].shape[:2]
        check_features(golden, predictor, prefix)
        for case in sam2_cases(golden, prefix):
            check_case(golden, predictor, prefix, case)


@pytest.mark.parametrize("name", SMALL_CONFIGS)
def test_small_config_matches_official(name, predictors):
    assert_matches_golden(name, predictors)


@pytest.mark.slow
@pytest.mark.parametrize("name", FULL_CONFIGS)
def test_full_size_matches_official(name, predictors):
    assert_matches_golden(name, predictors)


@pytest.mark.parametrize("name", SMALL_CONFIGS + FULL_CONFIGS)
def test_golden_cases_exercise_the_fallback_and_the_clamp(name):
    """Guards against trivial passes: each file has stable and fallen-back single masks and clamped logits."""
    golden = load_sam2_golden(name)
    chosen = [int(token) for key, value in golden.items() if key.endswith("/tokens") for token in value]
    assert 0 in chosen and any(token > 0 for token in chosen)
    assert any(float(value) == 32.0 for key, value in golden.items() if key.endswith("/low_res_max_abs"))
    assert any(golden[key].ndim == 2 and len(golden[key]) == 3 for key in golden if key.endswith("/box"))


def test_preprocessing_matches_official():
    """ToTensor -> Resize((1024, 1024)) (upscaling both ways, and antialiased shrinking) -> Normalize."""
    from sam_edge.export.sam2_predictor import preprocess_sam2

    golden = load_sam2_golden("sam2.1_small")
    stride, offset = (int(v) for v in golden["image_stride"])
    images = [golden["image0/image"], golden["image1/image"], make_large_image()]
    for index, image in enumerate(images):
        assert tuple(golden[f"preprocess{index}/shape"]) == image.shape
        ours = preprocess_sam2(image).numpy()
        key = f"preprocess{index}/tensor"
        np.testing.assert_allclose(ours[..., offset::stride, offset::stride], golden[f"{key}_strided"], atol=1e-6)
        np.testing.assert_allclose(ours.sum(dtype=np.float64), golden[f"{key}_sum"], rtol=1e-6)
        np.testing.assert_allclose(np.square(ours, dtype=np.float64).sum(), golden[f"{key}_sumsq"], rtol=1e-6)
