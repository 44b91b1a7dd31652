"""Our PyTorch modeling vs the official predictors: SAM's and MobileSAM's SamPredictor
(tests/golden/make_golden.py) and EdgeSAM's (tests/golden/make_edge_sam_golden.py)."""

from __future__ import annotations

import numpy as np
import pytest
from golden_data import case_prompts, golden_cases, golden_spec, load_golden, unpack_masks
from mask_policy import assert_masks_agree

pytest.importorskip("torch")

ATOL = 1e-4
SMALL_CONFIGS = ["vit_small", "tiny_vit_small", "edge_sam_small"]


def assert_matches_golden(name: str, checkpoint_path) -> None:
    from sam_edge.export.checkpoint import load_sam
    from sam_edge.export.torch_predictor import TorchSamPredictor

    golden = load_golden(name)
    stride = int(golden["stride"])
    model, _ = load_sam(checkpoint_path, golden_spec(name))
    predictor = TorchSamPredictor(model)
    images = sorted({key.split("/")[0] for key in golden if key.startswith("image")})
    for prefix in images:
        predictor.set_image(golden[f"{prefix}/image"])
        embedding = predictor.embedding.numpy()
        np.testing.assert_allclose(
            embedding[:, :, ::stride, ::stride], golden[f"{prefix}/embedding_strided"], atol=ATOL
        )
        for case in golden_cases(golden, prefix):
            key = f"{prefix}/{case}"
            full_logits, scores, logits = predictor.predict(**case_prompts(golden, key), return_logits=True)
            np.testing.assert_allclose(scores, golden[f"{key}/scores"], atol=ATOL, err_msg=key)
            np.testing.assert_allclose(
                logits[:, ::stride, ::stride], golden[f"{key}/logits_strided"], atol=ATOL, err_msg=key
            )
            full_logits = np.asarray(full_logits)
            assert_masks_agree(full_logits > 0, unpack_masks(golden, key), full_logits, key)


@pytest.mark.parametrize("name", SMALL_CONFIGS)
def test_small_config_matches_official(name, golden_checkpoint):
    assert_matches_golden(name, golden_checkpoint(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vit_b", "vit_t", "edge_sam"])
def test_full_model_matches_official(name, golden_checkpoint):
    assert_matches_golden(name, golden_checkpoint(name))
