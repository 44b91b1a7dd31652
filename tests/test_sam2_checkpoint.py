"""The SAM 2 loader: variant and version detection from the official keys, and one-line refusals.

Official layouts come from tests/golden/sam2_official_keys.json.gz (every key and shape of the eight
official configs, written by make_sam2_golden.py --keys) as zero-stride tensors: no memory.
"""

from __future__ import annotations

import pytest
from bad_checkpoints import zero_stride_state_dict
from sam2_golden_data import sam2_golden_spec, write_sam2_golden_checkpoint, zero_stride_official

torch = pytest.importorskip("torch")

from sam_edge.export.checkpoint import read_state_dict  # noqa: E402
from sam_edge.export.sam2_checkpoint import (  # noqa: E402
    check_sam2_state_dict,
    image_state_dict,
    load_sam2,
    sam2_version,
)
from sam_edge.export.sam2_specs import SAM2_SPECS  # noqa: E402
from sam_edge.export.specs import OFFICIAL_SPECS  # noqa: E402
from sam_edge.runtime.errors import CheckpointError  # noqa: E402

WHAT = "checkpoint sam2.pt"


def refusal(state_dict: dict, model_type=None) -> str:
    with pytest.raises(CheckpointError) as caught:
        check_sam2_state_dict(state_dict, model_type, WHAT)
    message = str(caught.value)
    assert message.startswith(f"{WHAT} ") and "\n" not in message
    return message


@pytest.mark.parametrize("name", list(SAM2_SPECS))
def test_every_official_file_is_detected_from_its_keys(name):
    state_dict = zero_stride_official(name)
    assert sam2_version(state_dict) == SAM2_SPECS[name].version
    assert check_sam2_state_dict(state_dict, None, WHAT) is SAM2_SPECS[name]
    assert check_sam2_state_dict(state_dict, name, WHAT) is SAM2_SPECS[name]


def test_official_layout_file_loads_with_video_keys_ignored(tmp_path):
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": zero_stride_official("sam2.1_hiera_t")}, path)
    assert path.stat().st_size < 1_000_000  # zero strides survive torch.save
    model, sha256 = load_sam2(path)
    assert model.spec is SAM2_SPECS["sam2.1_hiera_t"] and not model.training and len(sha256) == 64
    assert len(model.state_dict()) == 311


def test_small_checkpoint_loads_its_weights_exactly(tmp_path):
    path = write_sam2_golden_checkpoint("sam2.1_small", tmp_path / "small.pt")
    model, _ = load_sam2(path, sam2_golden_spec("sam2.1_small"))
    saved = image_state_dict(torch.load(path, weights_only=True)["model"])
    loaded = model.state_dict()
    assert loaded.keys() == saved.keys()
    assert all(torch.equal(loaded[key], value) for key, value in saved.items())


def test_sam2_1_file_given_as_sam2_names_the_2_1_variant():
    assert refusal(zero_stride_official("sam2.1_hiera_s"), "sam2_hiera_s") == (
        f"{WHAT} is a SAM 2.1 file given as sam2_hiera_s; it has the SAM 2.1-only keys no_obj_embed_spatial and "
        "obj_ptr_tpos_proj.*, so it fits sam2.1_hiera_s (the official sam2.1_hiera_small.pt); "
        "pass --model-type sam2.1_hiera_s or leave it out"
    )


def test_sam2_0_file_given_as_sam2_1_names_the_2_0_variant():
    assert refusal(zero_stride_official("sam2_hiera_b+"), "sam2.1_hiera_b+") == (
        f"{WHAT} is a SAM 2.0 file given as sam2.1_hiera_b+; it lacks the SAM 2.1-only keys no_obj_embed_spatial "
        "and obj_ptr_tpos_proj.*, so it fits sam2_hiera_b+ (the official sam2_hiera_base_plus.pt); "
        "pass --model-type sam2_hiera_b+ or leave it out"
    )


def test_other_size_asked_names_the_size_that_fits():
    message = refusal(zero_stride_official("sam2.1_hiera_t"), "sam2.1_hiera_s")
    assert message.startswith(f"{WHAT} does not fit sam2.1_hiera_s (missing 50: image_encoder.trunk.blocks.12.")
    assert (
        "unexpected 2: image_encoder.trunk.blocks.10.proj.bias, image_encoder.trunk.blocks.10.proj.weight;" in message
    )
    assert message.endswith("it fits sam2.1_hiera_t; pass --model-type sam2.1_hiera_t or leave it out to detect it")


def test_missing_key_is_named_with_the_closest_variant():
    state_dict = zero_stride_official("sam2.1_hiera_t")
    del state_dict["sam_mask_decoder.obj_score_token.weight"]
    assert refusal(state_dict) == (
        f"{WHAT} is a SAM 2.1 file that fits no variant exactly; the closest, sam2.1_hiera_t, differs: "
        "missing 1: sam_mask_decoder.obj_score_token.weight"
    )
    assert refusal(state_dict, "sam2.1_hiera_t") == (
        f"{WHAT} does not fit sam2.1_hiera_t (missing 1: sam_mask_decoder.obj_score_token.weight); "
        "no other SAM 2.1 variant fits it either: is the file damaged or of another model?"
    )


def test_wrong_shape_and_unknown_key_are_named():
    state_dict = zero_stride_official("sam2_hiera_l")
    state_dict["no_mem_embed"] = torch.zeros(1, 1, 128)
    state_dict["sam_mask_decoder.extra_head.weight"] = torch.zeros(3)
    assert refusal(state_dict, "sam2_hiera_l") == (
        f"{WHAT} does not fit sam2_hiera_l (unexpected 1: sam_mask_decoder.extra_head.weight; "
        "wrong shape 1: no_mem_embed (1, 1, 128) != (1, 1, 256)); "
        "no other SAM 2.0 variant fits it either: is the file damaged or of another model?"
    )


def test_video_only_checkpoint_without_image_heads_names_the_file_that_has_them():
    state_dict = zero_stride_official("sam2.1_hiera_b+")
    video_and_trunk = {k: v for k, v in state_dict.items() if not k.startswith(("sam_prompt_encoder.", "sam_mask_"))}
    assert refusal(video_and_trunk) == (
        f"{WHAT} holds SAM 2.1 video modules but not the image heads (no sam_prompt_encoder. / sam_mask_decoder. "
        "keys); image mode needs them: the official sam2.1_hiera_base_plus.pt (sam2.1_hiera_b+) has them"
    )
    video_only = {k: v for k, v in video_and_trunk.items() if not k.startswith("image_encoder.")}
    message = refusal(video_only, "sam2.1_hiera_b+")
    assert message.startswith(f"{WHAT} holds SAM 2.1 video modules but not the image heads")
    assert message.endswith(
        "image mode needs them: the official files (sam2_hiera_tiny.pt, sam2_hiera_small.pt, "
        "sam2_hiera_base_plus.pt, sam2_hiera_large.pt, sam2.1_hiera_tiny.pt, sam2.1_hiera_small.pt, "
        "sam2.1_hiera_base_plus.pt, sam2.1_hiera_large.pt) have them"
    )


def test_image_only_state_dict_needs_the_version():
    state_dict = image_state_dict(zero_stride_official("sam2.1_hiera_t"))
    assert sam2_version(state_dict) is None
    assert refusal(state_dict) == (
        f"{WHAT} holds no SAM 2 video modules, so SAM 2.0 and 2.1 cannot be told apart; "
        "pass the model type, e.g. sam2.1_hiera_t or sam2_hiera_t"
    )
    assert check_sam2_state_dict(state_dict, "sam2_hiera_t", WHAT) is SAM2_SPECS["sam2_hiera_t"]


def test_sam1_checkpoint_is_named_as_such():
    assert refusal(zero_stride_state_dict(OFFICIAL_SPECS["vit_b"])) == (
        f"{WHAT} is not a SAM 2 model: it is a SAM checkpoint that fits vit_b; export it with --model-type vit_b"
    )


def test_foreign_state_dict_is_refused():
    assert refusal({"backbone.conv1.weight": torch.zeros(8, 3, 3, 3)}) == (
        f"{WHAT} is not a SAM 2 model: its keys should start with image_encoder.trunk., sam_prompt_encoder., "
        "sam_mask_decoder., as in the official sam2.1_hiera_tiny.pt"
    )


def test_unknown_model_type_lists_the_variants():
    with pytest.raises(Exception, match="unknown SAM 2 model type 'sam2.1_hiera_xl'; expected one of sam2_hiera_t, "):
        check_sam2_state_dict(zero_stride_official("sam2.1_hiera_t"), "sam2.1_hiera_xl", WHAT)


def test_file_errors_come_from_the_common_reader(tmp_path):
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    path.write_text("a download page saved instead of the checkpoint\n")
    with pytest.raises(CheckpointError, match=f"checkpoint {path} cannot be read"):
        load_sam2(path)
    torch.save({"model": zero_stride_official("sam2.1_hiera_t")}, path)
    assert sam2_version(read_state_dict(path)) == "2.1"  # the {"model": ...} wrapper is unwrapped
