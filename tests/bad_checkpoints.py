"""Broken, hostile and foreign checkpoint files, each with the fragment its one-line error must contain.

Shared by the loader tests (test_checkpoint.py) and the CLI tests (test_export_cli.py).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

MARKER_NAME = "PWNED"  # what a malicious pickle would create next to itself if it were ever executed


class _RunsShell:
    """Unpickling this calls os.system; weights_only=True must refuse before the call."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _OpensFile:
    """Unpickling this calls open(marker, 'w'), which would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def write_truncated(path: Path) -> Path:
    """A valid torch.save'd state dict cut in half (a download that stopped)."""
    import torch

    torch.save({"mask_decoder.iou_token.weight": torch.ones(4, 256)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def write_random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def text_writer(text: str):
    """A writer of a text file; torch's unpickler reads its first byte as an opcode ("h": KeyError: 101,
    "a": IndexError, "j": struct.error)."""

    def write(path: Path) -> Path:
        path.write_text(text)
        return path

    return write


def write_zip_without_data_pkl(path: Path) -> Path:
    """A zip archive (e.g. a zipped folder of weights) that torch.save did not write."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights/readme.txt", "not a torch archive")
    return path


def write_shell_pickle_zip(path: Path) -> Path:
    """torch.save (zip format) of a dict whose value runs a shell command when unpickled."""
    import torch

    torch.save({"image_encoder.pos_embed": _RunsShell(path.parent / MARKER_NAME)}, path)
    return path


def write_open_pickle_raw(path: Path) -> Path:
    """A bare protocol-2 pickle (the legacy torch format's opcode set) that would call open()."""
    path.write_bytes(pickle.dumps({"image_encoder.pos_embed": _OpensFile(path.parent / MARKER_NAME)}, protocol=2))
    return path


def write_tensor_list(path: Path) -> Path:
    import torch

    torch.save([torch.zeros(2, 2), torch.ones(3)], path)
    return path


def write_non_tensor_values(path: Path) -> Path:
    import torch

    torch.save({"image_encoder.pos_embed": torch.zeros(1), "epoch": 3, "lr": 0.1}, path)
    return path


def write_not_sam(path: Path) -> Path:
    import torch

    torch.save({"backbone.conv1.weight": torch.zeros(8, 3, 3, 3)}, path)
    return path


REFUSED = "holds Python objects other than tensors and was refused without running its code"

NOT_A_PICKLE = "cannot be read, truncated or not a PyTorch file (its bytes are neither a zip archive nor a pickle: "

# name -> (writer, fragment of the error message)
BAD_CHECKPOINTS = {
    "text_h": (
        text_writer("hello, this is not a checkpoint\n"),
        NOT_A_PICKLE + "KeyError while unpickling); expected a torch.save'd state dict",
    ),
    "text_a": (
        text_writer("a download page saved instead of the checkpoint\n"),
        NOT_A_PICKLE + "IndexError while unpickling)",
    ),
    "text_j": (text_writer("j\n"), NOT_A_PICKLE + "struct.error while unpickling)"),
    "zip_without_data_pkl": (
        write_zip_without_data_pkl,
        "is a zip archive but not a PyTorch checkpoint (no data.pkl among its 1 entries)",
    ),
    "truncated": (write_truncated, "cannot be read, truncated or not a PyTorch file (PytorchStreamReader failed"),
    "random_bytes": (write_random_bytes, "cannot be read, truncated or not a PyTorch file (Unsupported operand"),
    "empty": (write_empty, "cannot be read, truncated or not a PyTorch file (the file ends early)"),
    "shell_pickle": (write_shell_pickle_zip, REFUSED),
    "open_pickle": (write_open_pickle_raw, REFUSED),
    "tensor_list": (write_tensor_list, "holds a list, not a state dict; expected {name: tensor}"),
    "non_tensor_values": (write_non_tensor_values, "is not a state dict: entries ['epoch', 'lr'] are not tensors"),
    "not_sam": (write_not_sam, "is not a SAM model of a known variant (vit_b, vit_l, vit_h, vit_t, edge_sam, nano)"),
}


def zero_stride_state_dict(spec) -> dict:
    """A state dict with the exact keys and shapes of ``spec`` whose tensors all view one float (no memory).

    torch.save keeps the zero strides, so even vit_h saves to a file of ~200 kB.
    """
    import torch

    from sam_edge.export.checkpoint import expected_shapes

    return {key: torch.zeros(()).expand(shape) for key, shape in expected_shapes(spec).items()}
