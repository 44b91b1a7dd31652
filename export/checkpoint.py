"""Loading official SAM checkpoints safely: read, recognise the variant, check every key and shape.

``torch.load(..., weights_only=True)`` never executes pickled code; anything that is not a flat
mapping of parameter names to tensors is refused with a one-line CheckpointError.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
import warnings
import zipfile
from pathlib import Path

import torch

from sam_edge.export.modeling.sam import Sam
from sam_edge.export.specs import OFFICIAL_SPECS, ModelSpec, ViTSpec, get_spec
from sam_edge.runtime.errors import CheckpointError, ModelFileError

StateDict = dict[str, torch.Tensor]
_WRAPPER_KEYS = ("model", "state_dict")
_MAX_LISTED_KEYS = 5
# Lines of torch's weights_only error that describe torch, not the file (one suggests weights_only=False).
_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation", "(1)", "(2)")
# What torch.load raises for a file that is not a checkpoint. Its own errors for a damaged zip or a
# refused pickle say what is wrong; the rest is what its unpickler trips over in arbitrary bytes (a text
# file starting with "h" is a KeyError, "a" an IndexError, "j" a struct.error), whose text means nothing.
_UNPICKLER_TRIPS = (
    UnicodeDecodeError,
    KeyError,
    IndexError,
    struct.error,
    TypeError,
    AttributeError,
    OverflowError,
    MemoryError,
)
_NOT_A_CHECKPOINT = (
    pickle.UnpicklingError,
    RuntimeError,
    EOFError,
    zipfile.BadZipFile,
    ValueError,
    OSError,
    *_UNPICKLER_TRIPS,
)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: str | Path) -> StateDict:
    """Read a checkpoint file into {name: tensor}; the file's pickle code is never executed."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"checkpoint {path} does not exist or is not a file; expected a .pth/.pt state dict")
    _check_zip_is_torch_archive(path)
    try:
        loaded = _torch_load(path)
    except _NOT_A_CHECKPOINT as error:
        raise _load_error(path, error) from None
    return _as_state_dict(loaded, path)


def _check_zip_is_torch_archive(path: Path) -> None:
    """A zip archive (torch.save's format since 1.6) must hold the ``<name>/data.pkl`` torch.save writes."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise _load_error(path, error) from None
    if not any(name.endswith("/data.pkl") for name in names):
        raise CheckpointError(
            f"checkpoint {path} is a zip archive but not a PyTorch checkpoint (no data.pkl among its "
            f"{len(names)} entries); expected a torch.save'd state dict such as sam_vit_b_01ec64.pth"
        )


def _torch_load(path: Path) -> object:
    # Warnings (e.g. "Detected pickle protocol 4") would add lines to a one-line CLI error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # mmap keeps a 2.5 GB vit_h checkpoint out of resident memory; pre-1.6 (non-zip) files can't be mapped.
        if zipfile.is_zipfile(path):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return torch.load(path, map_location="cpu", weights_only=True)


def _load_error(path: Path, error: BaseException) -> CheckpointError:
    """Tell a refused pickle (code or foreign objects) apart from a file that is not a checkpoint at all."""
    reason = _error_reason(error)
    if isinstance(error, pickle.UnpicklingError) and "GLOBAL" in str(error):
        return CheckpointError(
            f"checkpoint {path} holds Python objects other than tensors and was refused without running "
            f"its code ({reason}); expected a plain state dict of tensors"
        )
    return CheckpointError(
        f"checkpoint {path} cannot be read, truncated or not a PyTorch file ({reason}); "
        "expected a torch.save'd state dict such as sam_vit_b_01ec64.pth"
    )


def _error_reason(error: BaseException) -> str:
    """The informative sentence of a torch.load error, without torch's advice to disable weights_only."""
    if isinstance(error, _UNPICKLER_TRIPS):  # KeyError: 101 and the like
        kind = type(error)
        name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
        return f"its bytes are neither a zip archive nor a pickle: {name} while unpickling"
    lines = [line.strip() for line in str(error).splitlines()]
    lines = [line.split("WeightsUnpickler error:")[-1].strip() for line in lines]
    lines = [line for line in lines if line and not line.startswith(_TORCH_BOILERPLATE)]
    if not lines:
        return "the file ends early" if isinstance(error, EOFError) else type(error).__name__
    refused_globals = [line for line in lines if "GLOBAL" in line]  # the name of what was refused
    return (refused_globals or lines)[0].split(". ")[0].rstrip(".")


def _as_state_dict(loaded: object, path: Path) -> StateDict:
    if isinstance(loaded, dict) and len(loaded) == 1 and next(iter(loaded)) in _WRAPPER_KEYS:
        loaded = next(iter(loaded.values()))  # tolerate {"model": state_dict} from training scripts
    if not isinstance(loaded, dict) or not loaded:
        raise CheckpointError(
            f"checkpoint {path} holds a {type(loaded).__name__}, not a state dict; "
            "expected {name: tensor} as saved by torch.save(model.state_dict())"
        )
    bad = [key for key, value in loaded.items() if not (isinstance(key, str) and isinstance(value, torch.Tensor))]
    if bad:
        raise CheckpointError(
            f"checkpoint {path} is not a state dict: entries {bad[:_MAX_LISTED_KEYS]} are not tensors"
        )
    return loaded


def infer_vit_spec(state_dict: StateDict) -> ViTSpec | None:
    """Recover a ViT encoder spec from tensor shapes alone, or None if the encoder is not a SAM ViT."""
    try:
        embed_dim = state_dict["image_encoder.patch_embed.proj.weight"].shape[0]
        patch_size = state_dict["image_encoder.patch_embed.proj.weight"].shape[-1]
        grid = state_dict["image_encoder.pos_embed"].shape[1]
        depth = 1 + max(int(k.split(".")[2]) for k in state_dict if k.startswith("image_encoder.blocks."))
        table_lengths = [state_dict[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] for i in range(depth)]
        head_dim = state_dict["image_encoder.blocks.0.attn.rel_pos_h"].shape[1]
    except (KeyError, ValueError, IndexError):
        return None
    global_blocks = tuple(i for i, length in enumerate(table_lengths) if length == 2 * grid - 1)
    window_lengths = [length for length in table_lengths if length != 2 * grid - 1]
    window_size = (window_lengths[0] + 1) // 2 if window_lengths else 14
    return ViTSpec(embed_dim, depth, embed_dim // head_dim, global_blocks, window_size, patch_size)


def detect_spec(state_dict: StateDict) -> ModelSpec | None:
    """The official spec whose every key and shape matches, else a custom ViT spec, else None."""
    for spec in OFFICIAL_SPECS.values():
        if not describe_mismatch(state_dict, spec):
            return spec
    vit = infer_vit_spec(state_dict)
    if vit is not None:
        custom = ModelSpec(f"vit_custom_{vit.embed_dim}x{vit.depth}", vit)
        if not describe_mismatch(state_dict, custom):
            return custom
    return None


def expected_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state dict that ``spec`` builds (built on the meta device: no memory)."""
    with torch.device("meta"):
        model = Sam(spec)
    return {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}


def describe_mismatch(state_dict: StateDict, spec: ModelSpec) -> str:
    """Empty if ``state_dict`` fits ``spec`` exactly; otherwise which keys are missing/unexpected/mis-shaped."""
    return describe_key_mismatch(state_dict, expected_shapes(spec))


def describe_key_mismatch(state_dict: StateDict, expected: dict[str, tuple[int, ...]]) -> str:
    """Empty if ``state_dict`` has exactly the keys and shapes of ``expected``; else what differs, 5 keys per kind."""
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    misshaped = [
        f"{key} {tuple(state_dict[key].shape)} != {shape}"
        for key, shape in expected.items()
        if key in state_dict and tuple(state_dict[key].shape) != shape
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshaped)):
        if keys:
            more = f" (+{len(keys) - _MAX_LISTED_KEYS} more)" if len(keys) > _MAX_LISTED_KEYS else ""
            problems.append(f"{label} {len(keys)}: {', '.join(keys[:_MAX_LISTED_KEYS])}{more}")
    return "; ".join(problems)


def load_sam(checkpoint: str | Path, model_type: str | ModelSpec | None = None) -> tuple[Sam, str]:
    """Build and load a Sam (eval mode) from an official-format checkpoint.

    ``model_type`` is a key of OFFICIAL_SPECS, an explicit ModelSpec, or None to detect it.
    Returns (model, sha256 of the checkpoint file).
    """
    state_dict = read_state_dict(checkpoint)
    detected = detect_spec(state_dict)
    spec = get_spec(model_type) if isinstance(model_type, str) else (model_type or detected)
    problems = describe_mismatch(state_dict, spec) if spec is not None else ""
    folded = _folded_layout_problem(state_dict, spec) if spec is None or problems else ""
    if folded:  # named before the key lists: they would only list the folded layers' keys
        raise CheckpointError(f"checkpoint {checkpoint} {folded}")
    if spec is None:
        raise CheckpointError(
            f"checkpoint {checkpoint} is not a SAM model of a known variant ({', '.join(OFFICIAL_SPECS)}); "
            "its keys should start with image_encoder., prompt_encoder., mask_decoder."
        )
    if problems:
        raise CheckpointError(f"checkpoint {checkpoint} does not fit {spec.name} ({problems}); {_fit_hint(detected)}")
    model = Sam(spec)
    model.load_state_dict(state_dict, strict=True)
    return model.eval(), file_sha256(Path(checkpoint))


def folded_layers(state_dict: StateDict, expected: dict[str, tuple[int, ...]]) -> tuple[list[str], list[str]]:
    """(folded, unfolded): conv + BatchNorm layers of ``expected`` (keys ``<layer>.c.weight``) that
    ``state_dict`` holds folded into one biased conv (``<layer>.weight``, or the parent's for the
    branches of a RepVGG mixer, as RepViT's ``fuse()`` saves them) or as they were trained."""
    folded, unfolded = [], []
    for key in expected:
        if not key.endswith(".c.weight"):
            continue
        layer = key.removesuffix(".c.weight")
        if key in state_dict:
            unfolded.append(layer)
        elif f"{layer}.weight" in state_dict or f"{layer.rpartition('.')[0]}.weight" in state_dict:
            folded.append(layer)
    return folded, unfolded


def _folded_layout_problem(state_dict: StateDict, spec: ModelSpec | None) -> str:
    """What is wrong with a checkpoint saved after BatchNorm folding (wholly or in part), or ''."""
    candidates = [spec] if spec is not None else list(OFFICIAL_SPECS.values())
    for candidate in candidates:
        folded, unfolded = folded_layers(state_dict, expected_shapes(candidate))
        if not folded:
            continue
        what = f"mixes {len(folded)} BatchNorm-folded layers (e.g. {folded[0]}) with {len(unfolded)} unfolded ones"
        if not unfolded:
            what = f"is in BatchNorm-folded (deploy) form ({len(folded)} layers, e.g. {folded[0]})"
        example = candidate.official_file or candidate.name
        return (
            f"{what}; expected {candidate.name}'s training form as released (every conv + BatchNorm pair as "
            f"<layer>.c + <layer>.bn, e.g. {example}): sam-edge folds them itself at export"
        )
    return ""


def _fit_hint(detected: ModelSpec | None) -> str:
    """Which variant the checkpoint does fit, phrased as what to pass instead."""
    if detected is None:
        return f"no known variant ({', '.join(OFFICIAL_SPECS)}) fits it"
    if detected.name in OFFICIAL_SPECS:
        return f"it fits {detected.name}; pass --model-type {detected.name} or leave it out to detect it"
    vit = detected.encoder  # only ViTs are inferred from shapes (infer_vit_spec)
    return (
        f"it fits no official variant but a custom ViT (embed_dim {vit.embed_dim}, depth {vit.depth}, "
        f"{vit.num_heads} heads); leave out --model-type to load it as detected"
    )
