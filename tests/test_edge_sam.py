"""EdgeSAM: the RepViT encoder's official layout, its BatchNorm fold, the exported graph, checkpoint
refusals and the licence a user is shown.

Parity with the official EdgeSAM code is in test_golden_parity.py / test_runtime_parity.py (golden files
of tests/golden/make_edge_sam_golden.py).
"""

from __future__ import annotations

import gzip
import json
from collections import Counter

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from cli_runner import run_cli  # noqa: E402
from golden_data import GOLDEN_DIR, golden_spec, write_random_checkpoint  # noqa: E402

from sam_edge.export.checkpoint import folded_layers, load_sam  # noqa: E402
from sam_edge.export.modeling.rep_vit import RepViTEncoder, folded_rep_vit, squeeze_channels  # noqa: E402
from sam_edge.export.modeling.sam import Sam  # noqa: E402
from sam_edge.export.random_weights import randomize_state_dict  # noqa: E402
from sam_edge.export.specs import EDGE_SAM_LICENSE, get_spec  # noqa: E402
from sam_edge.runtime.errors import CheckpointError  # noqa: E402

SMALL = golden_spec("edge_sam_small")


def test_edge_sam_has_every_official_key_and_shape():
    with gzip.open(GOLDEN_DIR / "edge_sam_official_keys.json.gz", "rt", encoding="utf-8") as handle:
        official = {key: tuple(shape) for key, shape in json.load(handle).items()}
    with torch.device("meta"):
        ours = {key: tuple(tensor.shape) for key, tensor in Sam(get_spec("edge_sam")).state_dict().items()}
    assert ours == official
    assert len(official) == 821
    assert official["image_encoder.features.1.token_mixer.1.fc1.weight"] == (16, 48, 1, 1)
    assert official["image_encoder.fuse_stage3.op_list.0.weight"] == (256, 384, 1, 1)


@pytest.mark.parametrize(("channels", "hidden"), [(48, 16), (96, 24), (192, 48), (384, 96), (24, 8), (40, 8)])
def test_squeeze_excite_width_follows_timm_rounding(channels, hidden):
    assert squeeze_channels(channels) == hidden


@pytest.fixture(scope="module")
def small_encoder() -> RepViTEncoder:
    encoder = RepViTEncoder(SMALL.encoder)
    encoder.load_state_dict(randomize_state_dict(encoder.state_dict(), seed=3))
    return encoder.eval()


def test_folded_encoder_computes_the_same_without_batchnorm(small_encoder):
    image = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(0))
    folded = folded_rep_vit(small_encoder)
    with torch.no_grad():
        expected, actual = small_encoder(image), folded(image)
    assert actual.shape == (1, 256, 64, 64)
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), atol=1e-4)
    assert not any(isinstance(module, torch.nn.BatchNorm2d) for module in folded.modules())
    # three depthwise branches became one conv per stride-1 block; the original is untouched
    assert isinstance(folded.features[1].token_mixer[0], torch.nn.Conv2d)
    assert any(isinstance(module, torch.nn.BatchNorm2d) for module in small_encoder.modules())


def test_exported_encoder_graph_is_folded_and_validated(tmp_path):
    from sam_edge.export.api import export_model, load_model

    reports = export_model(
        load_model(model_type=SMALL, random_seed=0),
        tmp_path,
        fmt="onnx",
        decoder="full",
        progress=lambda message: None,
        time_backends=False,
    )
    encoder = onnx.load(str(tmp_path / "edge_sam_small.encoder.fp32.onnx"))
    ops = Counter(node.op_type for node in encoder.graph.node)
    assert ops["BatchNormalization"] == 0
    # 2 stem convs + per block 1 mixer conv (2 when downsampling) + 2 channel-mixer convs, SE convs, fuse, neck
    blocks, downsampling, se_blocks = sum(SMALL.encoder.depths), 3, len(SMALL.encoder.se_blocks)
    assert ops["Conv"] == 2 + blocks * 3 + downsampling + 2 * se_blocks + 2 + 2
    resize = next(node for node in encoder.graph.node if node.op_type == "Resize")
    assert {a.name: onnx.helper.get_attribute_value(a) for a in resize.attribute}["mode"] == b"cubic"
    diffs = {report.path.name: max(report.max_abs_diff.values()) for report in reports}
    assert diffs["edge_sam_small.encoder.fp32.onnx"] < 1e-4


def _folded_state_dict(spec, count: int | None = None) -> dict:
    """A checkpoint of ``spec`` whose first ``count`` (all if None) conv + BN pairs are saved folded."""
    state = randomize_state_dict(Sam(spec).state_dict(), seed=0)
    layers = [key.removesuffix(".c.weight") for key in state if key.endswith(".c.weight")]
    for layer in layers[:count]:
        state[f"{layer}.weight"] = state.pop(f"{layer}.c.weight")
        state[f"{layer}.bias"] = state.pop(f"{layer}.bn.bias")
        for name in ("weight", "running_mean", "running_var", "num_batches_tracked"):
            state.pop(f"{layer}.bn.{name}")
    return state


def test_mixed_folded_and_unfolded_layers_are_named(tmp_path):
    path = tmp_path / "mixed.pth"
    torch.save(_folded_state_dict(get_spec("edge_sam"), count=5), path)
    with pytest.raises(CheckpointError) as error:
        load_sam(path)
    message = str(error.value)
    assert "mixes 5 BatchNorm-folded layers (e.g. image_encoder.features.0.0) with 101 unfolded ones" in message
    assert "expected edge_sam's training form as released" in message and "edge_sam.pth" in message
    assert "\n" not in message


def test_wholly_folded_checkpoint_is_told_to_use_the_released_form(tmp_path):
    path = tmp_path / "deploy.pth"
    torch.save(_folded_state_dict(get_spec("edge_sam")), path)
    with pytest.raises(CheckpointError, match=r"is in BatchNorm-folded \(deploy\) form \(106 layers"):
        load_sam(path)
    folded, unfolded = folded_layers(torch.load(path, weights_only=True), {"x.c.weight": (1,)})
    assert (folded, unfolded) == ([], [])


def test_edge_sam_missing_a_key_names_it_and_the_variant(tmp_path):
    state = randomize_state_dict(Sam(get_spec("edge_sam")).state_dict(), seed=0)
    del state["image_encoder.fuse_stage2.weight"]
    path = tmp_path / "edge_sam_broken.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as error:
        load_sam(path, "edge_sam")
    assert "does not fit edge_sam (missing 1: image_encoder.fuse_stage2.weight)" in str(error.value)


def test_edge_sam_checkpoint_is_detected(tmp_path):
    path = write_random_checkpoint(get_spec("edge_sam"), tmp_path / "edge_sam.pth", seed=1)
    model, sha256 = load_sam(path)
    assert model.spec is get_spec("edge_sam") and len(sha256) == 64


def test_export_and_info_print_the_weights_licence(tmp_path):
    checkpoint = write_random_checkpoint(get_spec("edge_sam"), tmp_path / "edge_sam.pth", seed=0)
    out = tmp_path / "model"
    status, stdout, stderr = run_cli(
        "export", "--checkpoint", checkpoint, "--out", out, "--format", "onnx", "--decoder", "full",
        "--no-backend-timing",
    )  # fmt: skip
    assert status == 0, stderr
    assert f"note: {EDGE_SAM_LICENSE}" in (stdout + stderr).splitlines()
    status, stdout, _ = run_cli("info", out, "--no-compile")
    assert status == 0
    assert f"weights licence: {EDGE_SAM_LICENSE}" in stdout.splitlines()
    assert "S-Lab License 1.0: non-commercial use only" in EDGE_SAM_LICENSE
