"""The torch-free runtime (exported graphs + numpy pre/post-processing) vs the official SamPredictor
(and EdgeSAM's, whose exported encoder has its BatchNorms folded)."""

from __future__ import annotations

import numpy as np
import pytest
from golden_data import case_prompts, golden_cases, load_golden, unpack_masks
from mask_policy import assert_masks_agree

ATOL = 1e-4


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
@pytest.mark.parametrize(
    "name",
    [
        "vit_small",
        "tiny_vit_small",
        "edge_sam_small",
        pytest.param("vit_t", marks=pytest.mark.slow),
        pytest.param("edge_sam", marks=pytest.mark.slow),
        pytest.param("vit_b", marks=pytest.mark.slow),
    ],
)
def test_runtime_matches_official_predictor(name, backend, exported_golden_model):
    from sam_edge.runtime.predictor import SamPredictor

    golden = load_golden(name)
    stride = int(golden["stride"])
    predictor = SamPredictor(exported_golden_model(name), backend=backend, threads=2)
    for prefix in sorted({key.split("/")[0] for key in golden if key.startswith("image")}):
        embedding = predictor.set_image(golden[f"{prefix}/image"])
        np.testing.assert_allclose(
            embedding.embeddings[:, :, ::stride, ::stride], golden[f"{prefix}/embedding_strided"], atol=ATOL
        )
        for case in golden_cases(golden, prefix):
            key = f"{prefix}/{case}"
            full_logits, scores, logits = predictor.predict(**case_prompts(golden, key), return_logits=True)
            np.testing.assert_allclose(scores, golden[f"{key}/scores"], atol=ATOL, err_msg=key)
            np.testing.assert_allclose(
                logits[:, ::stride, ::stride], golden[f"{key}/logits_strided"], atol=ATOL, err_msg=key
            )
            assert_masks_agree(full_logits > 0, unpack_masks(golden, key), full_logits, key)
