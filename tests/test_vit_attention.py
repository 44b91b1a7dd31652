"""Global attention computed a few heads at a time (how ViT encoders are exported) is the same function."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sam_edge.export.modeling.vit_encoder import ViTImageEncoder, head_chunks  # noqa: E402
from sam_edge.export.specs import ViTSpec  # noqa: E402


@pytest.mark.parametrize("chunk", [1, 3, 4, 16])
def test_head_chunks_give_the_same_embedding_and_are_undone(chunk):
    torch.manual_seed(0)
    encoder = ViTImageEncoder(ViTSpec(64, 2, 4, (1,)), image_size=256).eval()
    for block in encoder.blocks:  # the default zero tables would hide a wrong relative-position slice
        torch.nn.init.normal_(block.attn.rel_pos_h)
        torch.nn.init.normal_(block.attn.rel_pos_w)
    image = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        whole = encoder(image)
        with head_chunks(encoder, chunk):
            assert [b.attn.head_chunk for b in encoder.blocks] == [None, chunk]  # the global block only
            chunked = encoder(image)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)
    assert all(block.attn.head_chunk is None for block in encoder.blocks)
