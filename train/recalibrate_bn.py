"""Re-estimate the encoder's BatchNorm statistics at the deployment resolution ("precise BN").

Why: nano trains on one scene per step, so its BatchNorm layers normalize with per-image statistics
during training and with running averages (momentum 0.1, mostly gathered at 512 px) at inference.
Averaging the batch statistics of many training scenes at 1024 px, with equal weight, gives the
inference graph statistics that match what it will see. Weights are untouched; only
``running_mean`` / ``running_var`` change. Scenes come from training seeds (never the benchmark).

    python train/recalibrate_bn.py --checkpoint runs/nano/nano.pth --out runs/nano/nano_bn.pth
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

from sam_edge.export.modeling.sam import Sam
from sam_edge.export.specs import get_spec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import make_sample  # noqa: E402

# Seeds for calibration scenes: training seeds (1,000,000 + step) far past any step a 4 h run reaches.
CALIBRATION_STEP_OFFSET = 5_000_000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="plain nano state dict (train_nano.py's nano.pth)"
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the recalibrated state dict")
    parser.add_argument("--images", type=int, default=200, help="calibration scenes (default 200)")
    parser.add_argument(
        "--size", type=int, default=1024, help="input side the statistics are gathered at (default 1024)"
    )
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def batch_norms(sam: Sam) -> list[torch.nn.Module]:
    """The encoder's BatchNorm layers (nano has them; SAM's ViT and TinyViT do not)."""
    return [m for m in sam.image_encoder.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def recalibrate(sam: Sam, images: int, size: int) -> None:
    """Replace every BatchNorm's running stats by the equal-weight mean over ``images`` scenes.

    Leaves the model in eval mode with momentum restored to 0.1.
    """
    norms = batch_norms(sam)
    if not norms:
        raise SystemExit("the encoder has no BatchNorm layers: nothing to recalibrate")
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average: every scene counts the same
    sam.eval()
    for norm in norms:
        norm.train()
    sam.set_image_size(size)
    rng = np.random.default_rng(0)
    device = next(sam.parameters()).device
    with torch.no_grad():
        for index in range(images):
            sample = make_sample(1_000_000 + CALIBRATION_STEP_OFFSET + index, size, 1, rng)
            sam.encode_image(sample.image.to(device))
            if (index + 1) % 20 == 0:
                print(f"  {index + 1}/{images} scenes", flush=True)
    for norm in norms:
        norm.momentum = 0.1
    sam.eval()


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    sam = Sam(get_spec("nano"))
    sam.load_state_dict(torch.load(args.checkpoint, map_location="cpu", weights_only=True))
    recalibrate(sam, args.images, args.size)
    sam.set_image_size(sam.spec.image_size)
    temp = args.out.with_name(args.out.name + ".partial")
    torch.save(sam.state_dict(), temp)
    os.replace(temp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
