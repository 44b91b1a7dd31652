"""TinyViT (MobileSAM vit_t) encoder: shapes, state-dict contract, attention-bias index, ONNX parity.

Parity with the official mobile_sam code needs the reference package, which is no CI dependency; it
belongs to the golden-file tests. These tests need only torch, onnx and onnxruntime.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from sam_edge.export.modeling.tiny_vit import TinyViTEncoder  # noqa: E402
from sam_edge.export.modeling.tiny_vit_blocks import attention_bias_index  # noqa: E402
from sam_edge.export.random_weights import randomize_state_dict  # noqa: E402
from sam_edge.export.specs import TinyViTSpec, get_spec  # noqa: E402

# Small but the same classes; the last width is 320 because the official code only keeps stage 3 at
# S/16 for final widths 320/448/576, so this config also runs in mobile_sam (e.g. for golden files).
SMALL_SPEC = TinyViTSpec(
    embed_dims=(32, 64, 80, 320), depths=(1, 1, 2, 1), num_heads=(1, 2, 5, 5), window_sizes=(7, 7, 14, 7)
)
VIT_T_KEY_COUNT = 302  # len(mobile_sam TinyViT(vit_t config).state_dict()), counted with mobilesam-mirror 1.0.0


@pytest.fixture(scope="module")
def small_encoder() -> TinyViTEncoder:
    encoder = TinyViTEncoder(SMALL_SPEC)
    encoder.load_state_dict(randomize_state_dict(encoder.state_dict(), seed=0), strict=True)
    return encoder.eval()


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(1))


def test_small_output_shape(small_encoder, image):
    with torch.no_grad():
        embeddings = small_encoder(image)
    assert embeddings.shape == (1, 256, 64, 64)
    assert embeddings.dtype == torch.float32
    assert torch.isfinite(embeddings).all()


def test_vit_t_state_dict_matches_official_keys():
    encoder = TinyViTEncoder(get_spec("vit_t").encoder)
    state = encoder.state_dict()
    assert len(state) == VIT_T_KEY_COUNT
    expected_shapes = {
        "patch_embed.seq.0.c.weight": (32, 3, 3, 3),
        "patch_embed.seq.2.bn.running_var": (64,),
        "layers.0.blocks.1.conv2.c.weight": (256, 1, 3, 3),
        "layers.1.blocks.0.attn.attention_biases": (4, 49),
        "layers.2.blocks.5.attn.attention_biases": (5, 196),
        "layers.2.downsample.conv2.c.weight": (320, 1, 3, 3),
        "layers.3.blocks.1.mlp.fc1.weight": (1280, 320),
        "norm_head.weight": (320,),
        "head.weight": (1000, 320),
        "neck.0.weight": (256, 320, 1, 1),
        "neck.3.bias": (256,),
    }
    for key, shape in expected_shapes.items():
        assert tuple(state[key].shape) == shape, key
    assert state["layers.0.downsample.conv1.bn.num_batches_tracked"].dtype == torch.int64
    assert "layers.3.downsample.conv1.c.weight" not in state  # the last stage has no merge
    # The bias index tables are derived buffers: present on the module, absent from the checkpoint.
    buffers = dict(encoder.named_buffers())
    assert "layers.1.blocks.0.attn.attention_bias_idxs" in buffers
    assert not any(key.endswith("attention_bias_idxs") for key in state)


@pytest.mark.parametrize("window_size", [1, 3, 7])
def test_attention_bias_index_matches_first_appearance_numbering(window_size):
    # The official numbering: scan point pairs in order, number each new (|dy|, |dx|) when first seen.
    points = list(itertools.product(range(window_size), range(window_size)))
    numbers: dict[tuple[int, int], int] = {}
    expected = []
    for (y1, x1), (y2, x2) in itertools.product(points, points):
        offset = (abs(y1 - y2), abs(x1 - x2))
        expected.append(numbers.setdefault(offset, len(numbers)))
    index = attention_bias_index(window_size)
    assert index.tolist() == torch.tensor(expected).view(len(points), len(points)).tolist()


def test_small_onnx_matches_torch(small_encoder, image, tmp_path):
    path = tmp_path / "tiny_vit_small.onnx"
    torch.onnx.export(
        small_encoder,
        (image,),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["image"],
        output_names=["image_embeddings"],
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_embeddings,) = session.run(["image_embeddings"], {"image": image.numpy()})
    with torch.no_grad():
        torch_embeddings = small_encoder(image).numpy()
    assert onnx_embeddings.shape == (1, 256, 64, 64)
    max_diff = float(np.abs(onnx_embeddings - torch_embeddings).max())
    assert max_diff < 1e-4, f"ONNX vs PyTorch max abs diff {max_diff:.2e}"


def test_row_strips_compute_the_same_encoder_as_whole_maps(small_encoder, image, monkeypatch):
    """The stem, the MBConv stage, the merges and the attention blocks go through in row strips and
    token pieces at high resolution (peak memory); with tiny strips every edge case (one-row strips,
    halo rows, uneven last strips, several window rows) is hit, and the embedding stays the same."""
    from sam_edge.export.modeling import tiny_vit, tiny_vit_blocks

    def encode(max_elements: int) -> torch.Tensor:
        monkeypatch.setattr(tiny_vit_blocks, "MAX_STRIP_ELEMENTS", max_elements)
        monkeypatch.setattr(tiny_vit, "MAX_STRIP_ELEMENTS", max_elements)
        with torch.no_grad():
            return small_encoder(image)

    whole = encode(1 << 40)
    for max_elements in (1 << 21, 1 << 16, 1):
        assert (encode(max_elements) - whole).abs().max().item() < 1e-4


def test_strips_of_one_row_at_the_map_edges_match_the_padded_convolution(monkeypatch):
    from sam_edge.export.modeling import tiny_vit_blocks
    from sam_edge.export.modeling.tiny_vit import PatchEmbed
    from sam_edge.export.modeling.tiny_vit_blocks import MBConv, PatchMerging

    torch.manual_seed(0)
    cases = [
        (MBConv(8, 4.0), (1, 8, 13, 11)),
        (PatchMerging(8, 16, 2), (1, 8, 13, 11)),
        (PatchEmbed(3, 16), (1, 3, 29, 23)),
    ]
    for block, shape in cases:
        block.load_state_dict(randomize_state_dict(block.state_dict(), seed=3), strict=True)
        block.eval()
        x = torch.randn(shape)
        with torch.no_grad():
            whole = block(x)
            monkeypatch.setattr(tiny_vit_blocks, "MAX_STRIP_ELEMENTS", 1)
            monkeypatch.setattr("sam_edge.export.modeling.tiny_vit.MAX_STRIP_ELEMENTS", 1)
            strips = block(x)
            monkeypatch.undo()
        assert strips.shape == whole.shape
        assert (strips - whole).abs().max().item() < 1e-5, type(block).__name__
