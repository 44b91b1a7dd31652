"""The split decoder (image stage + prompt stage) computes Sam.decode: PyTorch, small and nano configs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from golden_data import golden_spec  # noqa: E402

from sam_edge.export.api import build_random_sam  # noqa: E402
from sam_edge.export.modeling.split_decoder import (  # noqa: E402
    SMALLEST_NORMAL,
    DecoderImageStage,
    DecoderPromptStage,
    _attention_weights,
)
from sam_edge.export.specs import get_spec  # noqa: E402


@pytest.fixture(scope="module", params=["vit_small", "nano"])
def sam(request):
    spec = golden_spec("vit_small") if request.param == "vit_small" else get_spec("nano")
    return build_random_sam(spec, seed=3)


def prompts(batch: int, kind: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Input-frame points [B, n, 2] and labels [B, n]: one point (+ padding), fg/bg points, box, box + point."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 700, (batch, 1, 2))
    layouts = {
        "point": (rng.uniform(0, 1024, (batch, 2, 2)), [1, -1]),
        "points": (rng.uniform(0, 1024, (batch, 5, 2)), [1, 0, 1, 0, -1]),
        "box": (np.concatenate([corner, corner + 200], axis=1), [2, 3]),
        "box_point": (np.concatenate([corner + 100, corner, corner + 200], axis=1), [1, 2, 3]),
    }
    coords, labels = layouts[kind]
    return (
        torch.tensor(coords, dtype=torch.float32),
        torch.tensor(labels, dtype=torch.float32).expand(batch, -1).contiguous(),
    )


@pytest.mark.parametrize("kind", ["point", "points", "box", "box_point"])
@pytest.mark.parametrize("with_mask", [False, True])
def test_prompt_stage_equals_the_reference_decoder(sam, kind, with_mask):
    batch = 3
    generator = torch.Generator().manual_seed(5)
    embeddings = torch.randn((1, 256, 64, 64), generator=generator)
    coords, labels = prompts(batch, kind, seed=len(kind))
    mask_batch = batch if with_mask else 1
    mask_input = torch.randn((mask_batch, 1, 256, 256), generator=generator) * 4
    has_mask = torch.full((mask_batch,), float(with_mask))
    with torch.no_grad():
        expected_masks, expected_iou = sam.decode(embeddings, coords, labels, mask_input, has_mask)
        state = DecoderImageStage(sam)(embeddings, mask_input, has_mask)
        iou, masks = DecoderPromptStage(sam)(*state, coords, labels)
    assert masks.shape == expected_masks.shape == (batch, 4, 256, 256)
    assert iou.shape == expected_iou.shape == (batch, 4)
    assert float((masks - expected_masks).abs().max()) < 1e-4
    assert float((iou - expected_iou).abs().max()) < 1e-5
    # Not trivially equal: the prompts really change the masks.
    assert float((expected_masks[0] - expected_masks[1]).abs().max()) > 1e-2


def test_image_stage_outputs_are_shared_by_all_prompts(sam):
    embeddings = torch.randn((1, 256, 64, 64), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        tokens, pe, keys, values, queries = DecoderImageStage(sam)(
            embeddings, torch.zeros(1, 1, 256, 256), torch.zeros(1)
        )
    assert tokens.shape == pe.shape == (1, 4096, 256)
    assert keys.shape == (1, 8, 16, 4096) and values.shape == (1, 8, 4096, 16) and queries.shape == (1, 4096, 128)
    no_mask = sam.prompt_encoder.no_mask_embed.weight.reshape(1, 256, 1, 1)
    torch.testing.assert_close(tokens, (embeddings + no_mask).flatten(2).transpose(1, 2))


def test_attention_weights_flush_subnormals_and_keep_the_rest():
    # Scores 100 apart: softmax gives exp(-100) ~ 3.7e-44 for the low ones, a subnormal float32.
    scores = torch.tensor([[0.0, -100.0, -10.0, -200.0], [5.0, 5.0, -95.0, 4.0]])
    weights = _attention_weights(scores)
    reference = torch.softmax(scores, dim=-1)
    assert torch.count_nonzero((reference > 0) & (reference < SMALLEST_NORMAL)) == 2  # the case is real
    tiny = reference < SMALLEST_NORMAL
    assert torch.all(weights[tiny] == 0) and torch.equal(weights[~tiny], reference[~tiny])
    assert weights.dtype == torch.float32 and weights.shape == scores.shape
