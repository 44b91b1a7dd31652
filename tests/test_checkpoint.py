"""The checkpoint loader: variant detection, key/shape checks and refusal of anything that is not a state dict.

Official variants are checked on zero-stride state dicts (every tensor views one float), so vit_h's
shapes cost no memory and save to a ~200 kB file.
"""

from __future__ import annotations

import hashlib
import os

import pytest

torch = pytest.importorskip("torch")

from bad_checkpoints import BAD_CHECKPOINTS, MARKER_NAME, zero_stride_state_dict  # noqa: E402
from golden_data import golden_spec, write_random_checkpoint  # noqa: E402

from sam_edge.export.checkpoint import (  # noqa: E402
    describe_mismatch,
    detect_spec,
    expected_shapes,
    infer_vit_spec,
    load_sam,
    read_state_dict,
)
from sam_edge.export.specs import OFFICIAL_SPECS, ViTSpec  # noqa: E402
from sam_edge.runtime.errors import CheckpointError, ModelFileError  # noqa: E402

# Counted from the official builders (segment-anything 1.0 / mobilesam-mirror 1.0.0 / EdgeSAM at 03465ff).
OFFICIAL_KEY_COUNTS = {"vit_b": 314, "vit_l": 482, "vit_h": 594, "vit_t": 439, "edge_sam": 821}


@pytest.fixture(scope="module")
def official_state_dicts() -> dict[str, dict]:
    return {name: zero_stride_state_dict(OFFICIAL_SPECS[name]) for name in OFFICIAL_KEY_COUNTS}


def test_zero_stride_state_dict_takes_no_memory(official_state_dicts):
    pos_embed = official_state_dicts["vit_h"]["image_encoder.pos_embed"]
    assert tuple(pos_embed.shape) == (1, 64, 64, 1280)
    assert pos_embed.stride() == (0, 0, 0, 0)
    assert pos_embed.untyped_storage().nbytes() == 4


@pytest.mark.parametrize("name", list(OFFICIAL_KEY_COUNTS))
def test_detects_every_official_variant(name, official_state_dicts):
    state_dict = official_state_dicts[name]
    assert len(state_dict) == OFFICIAL_KEY_COUNTS[name]
    assert detect_spec(state_dict) is OFFICIAL_SPECS[name]
    for other in OFFICIAL_SPECS:
        assert (describe_mismatch(state_dict, OFFICIAL_SPECS[other]) == "") == (other == name), other


@pytest.mark.parametrize("name", ["vit_b", "vit_l", "vit_h"])
def test_vit_spec_is_recovered_from_shapes(name, official_state_dicts):
    assert infer_vit_spec(official_state_dicts[name]) == OFFICIAL_SPECS[name].encoder


def test_tiny_vit_is_not_mistaken_for_a_vit(official_state_dicts):
    assert infer_vit_spec(official_state_dicts["vit_t"]) is None


def test_vit_h_file_is_detected_and_named_when_vit_b_is_asked(official_state_dicts, tmp_path):
    path = tmp_path / "sam_vit_h_shapes.pth"
    torch.save(official_state_dicts["vit_h"], path)
    assert path.stat().st_size < 1_000_000  # strides survive torch.save: no 2.5 GB file
    assert detect_spec(read_state_dict(path)) is OFFICIAL_SPECS["vit_h"]
    with pytest.raises(CheckpointError) as caught:
        load_sam(path, "vit_b")  # fails on shapes, before any vit_b weights are built
    message = str(caught.value)
    assert f"checkpoint {path} does not fit vit_b (unexpected 280: image_encoder.blocks.12.attn.proj.bias" in message
    assert "wrong shape 172: image_encoder.pos_embed (1, 64, 64, 1280) != (1, 64, 64, 768)" in message
    assert message.endswith("it fits vit_h; pass --model-type vit_h or leave it out to detect it")
    assert "\n" not in message


def test_vit_t_shapes_asked_as_vit_b_name_vit_t(official_state_dicts, tmp_path):
    path = tmp_path / "mobile_sam_shapes.pt"
    torch.save(official_state_dicts["vit_t"], path)
    with pytest.raises(CheckpointError, match="it fits vit_t; pass --model-type vit_t"):
        load_sam(path, "vit_b")


def test_small_vit_is_detected_as_a_custom_spec():
    spec = detect_spec(zero_stride_state_dict(golden_spec("vit_small")))
    assert spec.name == "vit_custom_64x2"
    assert spec.encoder == ViTSpec(64, 2, 2, (1,))
    assert spec.encoder == golden_spec("vit_small").encoder


def test_small_tiny_vit_is_not_detected():
    assert detect_spec(zero_stride_state_dict(golden_spec("tiny_vit_small"))) is None


def test_describe_mismatch_names_keys_and_shapes():
    spec = OFFICIAL_SPECS["vit_b"]
    state_dict = zero_stride_state_dict(spec)
    del state_dict["mask_decoder.iou_token.weight"]
    state_dict["mask_decoder.extra.weight"] = torch.zeros(3)
    state_dict["prompt_encoder.no_mask_embed.weight"] = torch.zeros(1, 128)
    assert describe_mismatch(state_dict, spec) == (
        "missing 1: mask_decoder.iou_token.weight; unexpected 1: mask_decoder.extra.weight; "
        "wrong shape 1: prompt_encoder.no_mask_embed.weight (1, 128) != (1, 256)"
    )


def test_describe_mismatch_lists_five_keys_then_counts():
    spec = OFFICIAL_SPECS["vit_b"]
    state_dict = zero_stride_state_dict(spec)
    state_dict = {key: value for key, value in state_dict.items() if not key.startswith("mask_decoder.")}
    missing = sorted(key for key in expected_shapes(spec) if key.startswith("mask_decoder."))
    problems = describe_mismatch(state_dict, spec)
    assert problems == f"missing {len(missing)}: {', '.join(missing[:5])} (+{len(missing) - 5} more)"


def test_load_sam_detects_and_loads_weights_exactly(tmp_path):
    spec = golden_spec("vit_small")
    path = write_random_checkpoint(spec, tmp_path / "small.pth", seed=3)
    model, sha256 = load_sam(path)
    assert model.spec.encoder == spec.encoder and not model.training
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    saved = torch.load(path, weights_only=True)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in saved.items())


def test_wrapped_state_dict_is_accepted(tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"model": {"mask_decoder.iou_token.weight": torch.ones(4, 256)}}, path)
    assert list(read_state_dict(path)) == ["mask_decoder.iou_token.weight"]


def test_small_vit_asked_as_vit_b_names_keys_and_what_fits(tmp_path):
    path = write_random_checkpoint(golden_spec("vit_small"), tmp_path / "small.pth", seed=0)
    with pytest.raises(CheckpointError) as caught:
        load_sam(path, "vit_b")
    message = str(caught.value)
    assert "does not fit vit_b (missing 140: image_encoder.blocks.10.attn.proj.bias" in message
    assert "wrong shape 32: image_encoder.pos_embed (1, 64, 64, 64) != (1, 64, 64, 768)" in message
    assert message.endswith(
        "it fits no official variant but a custom ViT (embed_dim 64, depth 2, 2 heads); "
        "leave out --model-type to load it as detected"
    )


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist or is not a file; expected a .pth/.pt state dict"):
        read_state_dict(tmp_path / "sam_vit_b_01ec64.pth")


def test_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist or is not a file"):
        read_state_dict(tmp_path)


@pytest.mark.parametrize("kind", list(BAD_CHECKPOINTS))
def test_bad_checkpoint_gets_one_line_error(kind, tmp_path):
    write, fragment = BAD_CHECKPOINTS[kind]
    path = write(tmp_path / f"{kind}.pth")
    with pytest.raises(CheckpointError) as caught:
        load_sam(path)
    message = str(caught.value)
    assert fragment in message
    assert message.startswith(f"checkpoint {path} ")
    assert "\n" not in message
    assert "weights_only` set to `False`" not in message  # never advise unsafe loading
    assert not (tmp_path / MARKER_NAME).exists()


@pytest.mark.parametrize("kind", ["shell_pickle", "open_pickle"])
def test_malicious_pickle_is_refused_by_name(kind, tmp_path):
    path = BAD_CHECKPOINTS[kind][0](tmp_path / "evil.pth")
    with pytest.raises(CheckpointError) as caught:
        read_state_dict(path)
    refused = {"shell_pickle": f"GLOBAL {os.system.__module__}.system", "open_pickle": "GLOBAL io.open"}[kind]
    assert refused in str(caught.value)
    assert not (tmp_path / MARKER_NAME).exists()
