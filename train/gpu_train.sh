#!/usr/bin/env bash
# Train nano on a GPU machine in one call of under 9 minutes and leave the weights for the caller.
#
#   OUT=/folder bash train/gpu_train.sh              # 7 min of training steps on cuda
#   OUT=/tmp/smoke MINUTES=0.5 DEVICE=cpu SCENES=2 WORKERS=1 bash train/gpu_train.sh   # the same path on a CPU
#
# The machine needs python3 with torch, numpy and Pillow (a GPU image has them); sam-edge itself is
# installed from this checkout into a temporary folder, without dependencies and without the network.
# Writes OUT/nano.pth (the official checkpoint format: `sam-edge export --checkpoint OUT/nano.pth`),
# OUT/snapshot.pt (weights + progress: `train/train_nano.py --resume-from` continues it on any
# machine) and OUT/log.jsonl. Scenes per step batch the encoder and every decoder call; workers
# generate the coming steps' scenes so the GPU does not wait for them.
set -euo pipefail
out="${OUT:?set OUT to the folder that receives nano.pth, snapshot.pt and log.jsonl}"
minutes="${MINUTES:-7}"
device="${DEVICE:-cuda}"
scenes="${SCENES:-16}"
workers="${WORKERS:-12}"
cd "$(dirname "$0")/.."
site="$(mktemp -d)"
run="$(mktemp -d)"
trap 'rm -rf "$site" "$run"' EXIT
python3 -m pip install -q --no-deps --no-build-isolation --no-index --target "$site" .
hours="$(python3 -c "print($minutes / 60)")"
PYTHONPATH="$site" PYTHONUNBUFFERED=1 python3 train/train_nano.py --out "$run" --force --device "$device" \
    --hours "$hours" --scenes-per-step "$scenes" --workers "$workers" --threads 2 --checkpoint-minutes 60
mkdir -p "$out"
cp "$run/nano.pth" "$run/snapshot.pt" "$run/log.jsonl" "$out/"
echo "nano.pth, snapshot.pt and log.jsonl in $out"
