"""A training run's checkpoints: atomic saves, weights-only snapshots, and resuming with checks.

OUT/last.pt holds the weights (CPU tensors, whatever device trained them), AdamW's state and the
progress (step, wall-clock step seconds, CPU seconds, whether BatchNorm is frozen); OUT/snapshot.pt
the same without the optimizer (small enough to carry between machines).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from sam_edge.export.modeling.sam import Sam
from sam_edge.export.specs import get_spec

CHECKPOINT = "last.pt"
LOG = "log.jsonl"


def cpu_weights(sam: Sam) -> dict:
    """The state dict with CPU tensors, whatever device trained it: checkpoints load anywhere."""
    return {key: value.cpu() for key, value in sam.state_dict().items()}


def save_checkpoint(
    path: Path, sam: Sam, optimizer, step: int, elapsed: float, args, bn_frozen: bool = False, cpu: float = 0.0
) -> None:
    """Atomic: a crash during the write leaves the previous checkpoint intact."""
    temp = path.with_name(path.name + ".partial")
    torch.save(
        {
            "model": cpu_weights(sam),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "elapsed_seconds": elapsed,
            "cpu_seconds": cpu,
            "bn_frozen": bn_frozen,
            "args": {k: str(v) for k, v in vars(args).items()},
        },
        temp,
    )
    os.replace(temp, path)


@dataclass
class RunStart:
    """Where a run starts: a new one, or the state its checkpoint recorded."""

    sam: Sam
    optimizer: torch.optim.Optimizer
    step: int = 0
    elapsed_seconds: float = 0.0
    cpu_seconds: float = 0.0
    bn_frozen: bool = False
    warmup_origin: int = 0  # the step the LR warm-up counts from (a weights-only snapshot warms up again)


def read_checkpoint(path: Path, sam: Sam) -> dict:
    """A training checkpoint or snapshot of nano's shape, or one line saying what it is not."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated file, another format, a pickle weights_only refuses
        raise SystemExit(
            f"{path} is not a training checkpoint torch can read safely: {error}".splitlines()[0]
        ) from None
    if not isinstance(state, dict) or not {"model", "step"} <= state.keys():
        raise SystemExit(
            f"{path} is not a training checkpoint: expected OUT/last.pt or OUT/snapshot.pt of train_nano.py (with "
            "'model' and 'step'), not a plain state dict such as nano.pth"
        )
    expected = sam.state_dict()
    missing = sorted(expected.keys() - state["model"].keys())
    reshaped = [k for k in expected if k in state["model"] and state["model"][k].shape != expected[k].shape]
    if missing or reshaped:
        key = (reshaped or missing)[0]
        found = tuple(state["model"][key].shape) if key in state["model"] else "missing"
        raise SystemExit(
            f"{path} holds a model of another shape than nano's: {len(missing)} weights missing and "
            f"{len(reshaped)} of another shape (e.g. {key}: {found}, nano has {tuple(expected[key].shape)})"
        )
    return state


def open_run(args, device: torch.device) -> RunStart:
    """The model (on ``device``) and optimizer, fresh or as the checkpoint left them."""
    checkpoint_path = args.resume_from or args.out / CHECKPOINT
    if (args.out / CHECKPOINT).exists() and not (args.resume or args.force):
        raise SystemExit(f"{checkpoint_path} exists: pass --resume to continue it or --force to start over")
    resuming = args.resume or args.resume_from is not None
    if resuming and not checkpoint_path.exists():
        raise SystemExit(f"no checkpoint to resume at {checkpoint_path}")
    torch.manual_seed(args.seed)
    sam = Sam(get_spec("nano"))
    state = read_checkpoint(checkpoint_path, sam) if resuming else None
    args.out.mkdir(parents=True, exist_ok=True)
    if state is not None:
        sam.load_state_dict(state["model"])
    # On the device before the optimizer exists: its state then lives (and loads) beside the weights.
    sam.to(device)
    optimizer = torch.optim.AdamW(sam.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    if state is None:
        (args.out / LOG).unlink(missing_ok=True)
        return RunStart(sam, optimizer)
    start = RunStart(
        sam,
        optimizer,
        step=int(state["step"]),
        elapsed_seconds=float(state.get("elapsed_seconds", 0.0)),
        cpu_seconds=float(state.get("cpu_seconds", 0.0)),  # 0 for checkpoints written before they were kept
        bn_frozen=bool(state.get("bn_frozen", False)),
    )
    if "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    else:  # a weights-only snapshot: Adam's moments restart, so warm up again
        start.warmup_origin = start.step
    return start


def save_snapshot(checkpoint: Path, snapshot: Path) -> None:
    """Weights + progress only (no optimizer state): small enough to carry between machines."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    kept = ("model", "step", "elapsed_seconds", "cpu_seconds", "bn_frozen")
    torch.save({k: state[k] for k in kept if k in state}, snapshot)
