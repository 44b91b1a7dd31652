"""Loading official SAM 2 / 2.1 checkpoints for image mode: recognise the file, its version and size.

An official file is ``{"model": state_dict}`` (read with weights_only=True by export/checkpoint.py)
holding the image-mode part (``image_encoder.``, ``sam_prompt_encoder.``, ``sam_mask_decoder.``,
``no_mem_embed``) and the video modules, which are recognised and ignored. SAM 2.1 files add two video
entries (``no_obj_embed_spatial``, ``obj_ptr_tpos_proj.*``): that is how 2.0 and 2.1 are told apart; the
image-mode architecture is the same. The size comes from the image-mode shapes (SAM2_SPECS).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from sam_edge.export.checkpoint import StateDict, describe_key_mismatch, file_sha256, read_state_dict
from sam_edge.export.modeling.sam2 import Sam2
from sam_edge.export.sam2_specs import SAM2_SPECS, Sam2ModelSpec, get_sam2_spec, other_version
from sam_edge.runtime.errors import CheckpointError

IMAGE_PREFIXES = ("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.")
IMAGE_NAMES = ("no_mem_embed",)
HEAD_PREFIXES = ("sam_prompt_encoder.", "sam_mask_decoder.")
# The video modules of every official file, and the entries only SAM 2.1 files have.
VIDEO_PREFIXES = ("memory_attention.", "memory_encoder.", "obj_ptr_proj.", "mask_downsample.")
VIDEO_NAMES = ("maskmem_tpos_enc", "no_mem_pos_enc", "no_obj_ptr")
VIDEO_21_PREFIXES = ("obj_ptr_tpos_proj.",)
VIDEO_21_NAMES = ("no_obj_embed_spatial",)
_MAX_LISTED_KEYS = 5


def _matches(key: str, prefixes: tuple[str, ...], names: tuple[str, ...]) -> bool:
    return key.startswith(prefixes) or key in names


def is_image_key(key: str) -> bool:
    return _matches(key, IMAGE_PREFIXES, IMAGE_NAMES)


def is_video_key(key: str) -> bool:
    return _matches(key, VIDEO_PREFIXES, VIDEO_NAMES) or _matches(key, VIDEO_21_PREFIXES, VIDEO_21_NAMES)


def looks_like_sam2(state_dict: StateDict) -> bool:
    """A SAM 2 file has a Hiera trunk, SAM 2's head names or SAM 2's video modules."""
    return any(key.startswith(("image_encoder.trunk.", *HEAD_PREFIXES)) or is_video_key(key) for key in state_dict)


def sam2_version(state_dict: StateDict) -> str | None:
    """ "2.1" or "2" from the video entries; None when the file has none (an image-only state dict)."""
    if any(_matches(key, VIDEO_21_PREFIXES, VIDEO_21_NAMES) for key in state_dict):
        return "2.1"
    if any(_matches(key, VIDEO_PREFIXES, VIDEO_NAMES) for key in state_dict):
        return "2"
    return None


def image_state_dict(state_dict: StateDict) -> StateDict:
    """The entries the image-mode model loads: everything but the recognised video modules."""
    return {key: value for key, value in state_dict.items() if not is_video_key(key)}


@lru_cache(maxsize=32)
def sam2_expected_shapes(spec: Sam2ModelSpec) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the image-mode state dict ``spec`` builds (on the meta device: no memory). Cached:
    do not modify the returned dict."""
    with torch.device("meta"):
        model = Sam2(spec)
    return {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}


def detect_sam2_spec(state_dict: StateDict, version: str | None = None) -> Sam2ModelSpec | None:
    """The official variant whose image-mode keys and shapes all match, of the file's version (or ``version``)."""
    version = version or sam2_version(state_dict)
    image = image_state_dict(state_dict)
    for spec in SAM2_SPECS.values():
        if spec.version == version and not describe_key_mismatch(image, sam2_expected_shapes(spec)):
            return spec
    return None


def load_sam2(checkpoint: str | Path, model_type: str | Sam2ModelSpec | None = None) -> tuple[Sam2, str]:
    """Build and load a Sam2 (eval mode) from an official SAM 2 / 2.1 checkpoint.

    ``model_type``: a key of SAM2_SPECS, an explicit Sam2ModelSpec, or None to detect it from the keys.
    Returns (model, sha256 of the file). Every refusal is one CheckpointError line naming the problem
    and the variant that would fit.
    """
    state_dict = read_state_dict(checkpoint)
    spec = check_sam2_state_dict(state_dict, model_type, f"checkpoint {checkpoint}")
    model = Sam2(spec)
    model.load_state_dict(image_state_dict(state_dict), strict=True)
    return model.eval(), file_sha256(Path(checkpoint))


def check_sam2_state_dict(state_dict: StateDict, model_type: str | Sam2ModelSpec | None, what: str) -> Sam2ModelSpec:
    """The spec ``state_dict`` is loaded as, or CheckpointError (``what`` starts the message)."""
    if not looks_like_sam2(state_dict):
        raise CheckpointError(f"{what} is not a SAM 2 model: {_not_sam2_reason(state_dict)}")
    version = sam2_version(state_dict)
    requested = get_sam2_spec(model_type) if isinstance(model_type, str) else model_type
    _check_heads(state_dict, version, what)
    if requested is None:
        if version is None:
            raise CheckpointError(
                f"{what} holds no SAM 2 video modules, so SAM 2.0 and 2.1 cannot be told apart; "
                f"pass the model type, e.g. {_fitting_names(state_dict)}"
            )
        requested = detect_sam2_spec(state_dict)
        if requested is None:
            closest = _closest_spec(state_dict, version)
            problems = describe_key_mismatch(image_state_dict(state_dict), sam2_expected_shapes(closest))
            raise CheckpointError(
                f"{what} is a SAM {_label(version)} file that fits no variant exactly; "
                f"the closest, {closest.name}, differs: {problems}"
            )
    if version is not None and requested.version != version:
        raise CheckpointError(
            f"{what} is a SAM {_label(version)} file given as {requested.name}; {_version_hint(requested)}"
        )
    problems = describe_key_mismatch(image_state_dict(state_dict), sam2_expected_shapes(requested))
    if problems:
        raise CheckpointError(f"{what} does not fit {requested.name} ({problems}); {_fit_hint(state_dict, requested)}")
    return requested


def _not_sam2_reason(state_dict: StateDict) -> str:
    from sam_edge.export.checkpoint import detect_spec

    sam1 = detect_spec(state_dict)
    if sam1 is not None:
        return f"it is a SAM checkpoint that fits {sam1.name}; export it with --model-type {sam1.name}"
    return (
        "its keys should start with image_encoder.trunk., sam_prompt_encoder., sam_mask_decoder., as in "
        "the official sam2.1_hiera_tiny.pt"
    )


def _check_heads(state_dict: StateDict, version: str | None, what: str) -> None:
    """A file with the video modules but without the prompt encoder / mask decoder cannot run image mode."""
    if any(key.startswith(HEAD_PREFIXES) for key in state_dict):
        return
    file_kind = f"SAM {_label(version)} video modules" if version else "a SAM 2 trunk"
    trunk_fit = _size_from_trunk(state_dict, version or "2.1")
    fits = f"the official {trunk_fit.official_file} ({trunk_fit.name}) has them" if trunk_fit else _example_files()
    raise CheckpointError(
        f"{what} holds {file_kind} but not the image heads (no sam_prompt_encoder. / sam_mask_decoder. keys); "
        f"image mode needs them: {fits}"
    )


def _size_from_trunk(state_dict: StateDict, version: str) -> Sam2ModelSpec | None:
    """The variant whose image encoder keys and shapes match (when the heads are missing)."""
    encoder = {key: value for key, value in state_dict.items() if key.startswith("image_encoder.")}
    for spec in SAM2_SPECS.values():
        expected = {k: v for k, v in sam2_expected_shapes(spec).items() if k.startswith("image_encoder.")}
        if spec.version == version and encoder and not describe_key_mismatch(encoder, expected):
            return spec
    return None


def _version_hint(requested: Sam2ModelSpec) -> str:
    fitting = other_version(requested)
    markers = "has" if fitting.version == "2.1" else "lacks"
    return (
        f"it {markers} the SAM 2.1-only keys no_obj_embed_spatial and obj_ptr_tpos_proj.*, so it fits "
        f"{fitting.name} (the official {fitting.official_file}); pass --model-type {fitting.name} or leave it out"
    )


def _fit_hint(state_dict: StateDict, requested: Sam2ModelSpec) -> str:
    """Which variant the file does fit, or the closest one when none fits."""
    version = sam2_version(state_dict) or requested.version
    fitting = detect_sam2_spec(state_dict, version)
    if fitting is not None:
        return f"it fits {fitting.name}; pass --model-type {fitting.name} or leave it out to detect it"
    closest = _closest_spec(state_dict, version)
    if closest.name == requested.name:
        return f"no other SAM {_label(version)} variant fits it either: is the file damaged or of another model?"
    return f"no SAM {_label(version)} variant fits it; the closest is {closest.name}"


def _closest_spec(state_dict: StateDict, version: str) -> Sam2ModelSpec:
    """The official variant of ``version`` with the fewest missing, unexpected or mis-shaped keys."""
    image = image_state_dict(state_dict)

    def differences(spec: Sam2ModelSpec) -> int:
        expected = sam2_expected_shapes(spec)
        misshaped = sum(key in image and tuple(image[key].shape) != shape for key, shape in expected.items())
        return len(set(expected) ^ set(image)) + misshaped

    return min((spec for spec in SAM2_SPECS.values() if spec.version == version), key=differences)


def _label(version: str) -> str:
    return "2.0" if version == "2" else version


def _fitting_names(state_dict: StateDict) -> str:
    fitting = detect_sam2_spec(state_dict, "2.1")
    if fitting is None:
        return " or ".join(SAM2_SPECS)
    return f"{fitting.name} or {other_version(fitting).name}"


def _example_files() -> str:
    return "the official files (" + ", ".join(spec.official_file for spec in SAM2_SPECS.values()) + ") have them"
