#!/usr/bin/env bash
# Train one model on CIFAR-10 (26 000-image train.tar) on the CPU for a fixed budget of steps, with held-out PSNR
# (512 seeded images of test.tar, eval mode) logged at σ = 0.05 … 1; then denoise 2 000 test images through the CLI.
# Usage: bash benchmarks/cifar.sh NAME STEPS "TRAIN OPTIONS"
#   e.g. bash benchmarks/cifar.sh small 2400 "--preset small --sigma-max 0.4 --batch-size 64"
# then:  python benchmarks/heldout_table.py runs/cifar-NAME
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=$1; STEPS=$2; read -r -a OPTS <<< "${3:-}"
DATA=../shared/data/cifar10
rm -rf "runs/cifar-$NAME" "runs/cifar-$NAME-test"
start=$(date +%s)
.venv/bin/denoscope train --data $DATA/train.tar --val-data $DATA/test.tar --out "runs/cifar-$NAME" --steps "$STEPS" \
    --eval-every $((STEPS / 6)) --checkpoint-every $((STEPS / 6)) --log-every 25 \
    --eval-sigma 0.05 --eval-sigma 0.1 --eval-sigma 0.2 --eval-sigma 0.4 --eval-sigma 1 "${OPTS[@]}"
echo "training wall time: $(( $(date +%s) - start )) s"
.venv/bin/denoscope denoise --model "runs/cifar-$NAME" --data $DATA/test.tar --max-images 2000 --batch-size 200 \
    --sigma 0.05 0.1 0.2 0.4 1 --out "runs/cifar-$NAME-test"
