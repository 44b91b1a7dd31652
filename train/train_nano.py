"""Train sam-edge's default model ("nano") from scratch on generated scenes, with SAM's recipe.

    python train/train_nano.py --out runs/nano --hours 4            # start (refuses to overwrite)
    python train/train_nano.py --out runs/nano --hours 4 --resume   # continue after an interruption

Each step: one scene (seed training_seed(step)), up to --instances instances, each prompted by a fg
point or a jittered box, then --rounds correction clicks from the previous error region with the
previous low-res logits as mask input. Ambiguous (one-point) prompts train the best of the three
multimask outputs; focal + dice (20:1) on masks, MSE on the IoU head. The schedule is driven by
wall-clock progress through the --hours budget, so a resumed run continues the same curve. Most
training runs at --image-size (512, 4x cheaper); the last --finetune-fraction runs at 1024, with
the encoder's BatchNorm statistics first re-estimated at 1024 and then frozen (see
recalibrate_bn.py): one scene per step means BatchNorm trains on per-image statistics, and the
fine-tune lets the network adapt to the running statistics that inference uses.

On a GPU (train/gpu_train.sh): --device cuda, --scenes-per-step to batch scenes, --workers to
generate them ahead (docs/training.md). A resumed checkpoint of another shape is refused in one line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recalibrate_bn import batch_norms, recalibrate  # noqa: E402
from run_checkpoint import CHECKPOINT, LOG, cpu_weights, open_run, save_checkpoint, save_snapshot  # noqa: E402
from scene_prefetch import ScenePrefetcher  # noqa: E402
from train_step import train_step  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="run directory (checkpoint + log)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    mode.add_argument("--force", action="store_true", help="start over, replacing OUT/last.pt")
    mode.add_argument(
        "--resume-from", type=Path, help="continue from another checkpoint (e.g. a weights-only snapshot)"
    )
    parser.add_argument("--hours", type=float, default=4.0, help="total wall-clock budget across resumes")
    parser.add_argument(
        "--cpu-hours",
        type=float,
        help="budget in CPU-hours of this process (all threads) instead of wall-clock hours: the same run on "
        "a machine shared with other work",
    )
    parser.add_argument("--image-size", type=int, default=512, help="training resolution before the fine-tune")
    parser.add_argument("--finetune-fraction", type=float, default=0.15, help="last fraction of the budget at 1024")
    parser.add_argument(
        "--warm-size", type=int, default=256, help="resolution of the first stage (16x cheaper decoding than 1024)"
    )
    parser.add_argument(
        "--warm-fraction", type=float, default=0.35, help="first fraction of the budget at --warm-size (0: none)"
    )
    parser.add_argument(
        "--calibration-images",
        type=int,
        default=60,
        help="scenes for re-estimating BatchNorm statistics before the fine-tune (0: keep training BN)",
    )
    parser.add_argument("--instances", type=int, default=6, help="instances (prompts) per scene and step")
    parser.add_argument(
        "--prompts-per-instance",
        type=int,
        default=2,
        help="prompts per kept instance and step, each sampled on its own (one decoder call holds them all)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="correction-click rounds after the first prompt")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--warmup-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--device", default="cpu", help="torch device: cpu (the recipe's), cuda, cuda:N, or auto (cuda when present)"
    )
    parser.add_argument(
        "--scenes-per-step",
        type=int,
        default=1,
        help="scenes per optimizer step, encoded as one batch (BatchNorm then sees them together); 1 on CPU",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="processes generating the next steps' scenes ahead (0: inline)"
    )
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument(
        "--seed", type=int, default=0, help="initialisation seed (scenes come from training_seed(step))"
    )
    return parser.parse_args(argv)


def stage_size(args, progress: float) -> int:
    """Training resolution at ``progress`` (0..1) of the budget: --warm-size, then --image-size, then 1024.

    Decoding dominates a step (3 rounds x instances decoder passes against one encoder pass), and its
    cost grows with the embedding grid (S/16 squared): a 256 step decodes 16x fewer image tokens than
    one at 1024, so the first stage learns objectness and prompt semantics on many more scenes.
    """
    if progress >= 1 - args.finetune_fraction:
        return 1024
    return args.warm_size if progress < args.warm_fraction else args.image_size


def learning_rate(args, step: int, progress: float) -> float:
    warmup = min(1.0, (step + 1) / args.warmup_steps)
    return args.lr * warmup * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def check_settings(args) -> None:
    """Refuse settings that cannot train: one line each."""
    for name in ("warm_size", "image_size"):
        size = getattr(args, name)
        if size < 64 or size > 1024 or size % 64:
            raise SystemExit(f"--{name.replace('_', '-')} must be a multiple of 64 within 64..1024; got {size}")
    if not 0 <= args.warm_fraction <= 1 - args.finetune_fraction or not 0 <= args.finetune_fraction <= 1:
        raise SystemExit(
            "--warm-fraction and --finetune-fraction must be within 0..1 and sum to at most 1; got "
            f"{args.warm_fraction} and {args.finetune_fraction}"
        )
    if args.cpu_hours is not None and args.cpu_hours <= 0:
        raise SystemExit(f"--cpu-hours must be > 0; got {args.cpu_hours}")
    if args.hours <= 0 or args.instances < 1 or args.rounds < 0 or args.prompts_per_instance < 1:
        raise SystemExit("--hours must be > 0, --instances >= 1, --prompts-per-instance >= 1 and --rounds >= 0")
    if args.scenes_per_step < 1 or args.workers < 0:
        raise SystemExit(
            f"--scenes-per-step must be >= 1 and --workers >= 0; got {args.scenes_per_step} and {args.workers}"
        )


def training_device(name: str) -> torch.device:
    """The --device as a torch device; one line when it is not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SystemExit(f"--device must be cpu, cuda, cuda:N or auto; got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: this torch sees no CUDA device (use cpu or auto)")
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device must be cpu, cuda, cuda:N or auto; got {name!r}")
    return device


def main(argv=None) -> None:
    args = parse_args(argv)
    check_settings(args)
    torch.set_num_threads(args.threads)
    # Trained attention puts many weights below float32's smallest normal number, and each product
    # with one costs a microcode assist on x86: flushing them keeps late steps as fast as early ones.
    torch.set_flush_denormal(True)
    device = training_device(args.device)
    start = open_run(args, device)
    sam, optimizer, step, elapsed = start.sam, start.optimizer, start.step, start.elapsed_seconds
    bn_frozen, warmup_origin = start.bn_frozen, start.warmup_origin
    # CPU time of this process (all its threads) across resumes: on a machine shared with other work
    # the wall-clock budget buys fewer CPU-seconds, and the learning curve is reported against these.
    cpu_before = start.cpu_seconds - time.process_time()
    sam.train()
    budget = (args.cpu_hours or args.hours) * 3600

    def used() -> float:
        """Seconds of the budget spent: CPU seconds with --cpu-hours, else wall-clock step time."""
        return cpu_before + time.process_time() if args.cpu_hours else elapsed

    unit = "CPU-h" if args.cpu_hours else "h"
    print(
        f"training nano from step {step} ({used() / 3600:.2f} of {budget / 3600} {unit} used) into {args.out}",
        flush=True,
    )
    last_save, window = time.perf_counter(), []
    prefetcher = ScenePrefetcher(
        args.seed, args.instances, args.prompts_per_instance, args.scenes_per_step, args.workers
    )
    with open(args.out / LOG, "a") as log:
        while used() < budget:
            started = time.perf_counter()
            progress = used() / budget
            finetune = progress >= 1 - args.finetune_fraction
            image_size = stage_size(args, progress)
            if finetune and args.calibration_images and not bn_frozen:
                print(
                    f"re-estimating BatchNorm statistics at 1024 on {args.calibration_images} scenes, then freezing "
                    "them",
                    flush=True,
                )
                recalibrate(sam, args.calibration_images, 1024)
                bn_frozen = True
            if bn_frozen:
                sam.train()
                for norm in batch_norms(sam):
                    norm.eval()  # normalize with the running statistics, as inference does; they stay fixed
            lr = learning_rate(args, step - warmup_origin, progress)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            draws = prefetcher.draws(step, image_size)
            record = train_step(sam, draws, image_size, args.rounds, device)
            torch.nn.utils.clip_grad_norm_(sam.parameters(), 1.0)
            optimizer.step()
            step += 1
            elapsed += time.perf_counter() - started
            window.append(record)
            if step % args.log_every == 0:
                means = {key: float(np.nanmean([r[key] for r in window])) for key in window[0]}
                entry = {"step": step, "hours": round(elapsed / 3600, 4), "lr": lr, "image_size": image_size}
                entry.update(cpu_hours=round((cpu_before + time.process_time()) / 3600, 4), **means)
                log.write(json.dumps(entry) + "\n")
                log.flush()
                eta = (budget - used()) / 60
                print(
                    f"step {step:6d}  {elapsed / 3600:5.2f} h  loss {means['loss']:.4f}  IoU first "
                    f"{means['iou_first']:.3f}"
                    f"  after {args.rounds} clicks {means['iou_last']:.3f}  lr {lr:.2e}  {eta:.0f} budget-min left",
                    flush=True,
                )
                window = []
            if time.perf_counter() - last_save > args.checkpoint_minutes * 60:
                cpu = cpu_before + time.process_time()
                save_checkpoint(args.out / CHECKPOINT, sam, optimizer, step, elapsed, args, bn_frozen, cpu)
                last_save = time.perf_counter()
    prefetcher.close()
    cpu = cpu_before + time.process_time()
    save_checkpoint(args.out / CHECKPOINT, sam, optimizer, step, elapsed, args, bn_frozen, cpu)
    save_snapshot(args.out / CHECKPOINT, args.out / "snapshot.pt")
    # A plain state dict in the official checkpoint format: `sam-edge export --checkpoint OUT/nano.pth`.
    torch.save(cpu_weights(sam), args.out / "nano.pth")
    print(f"done: {step} steps in {elapsed / 3600:.2f} h ({cpu / 3600:.2f} CPU-h); checkpoint {args.out / CHECKPOINT}")


if __name__ == "__main__":
    main()
