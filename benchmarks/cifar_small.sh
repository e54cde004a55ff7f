#!/usr/bin/env bash
# Train the `small` preset (σ ∈ [0, SIGMA_MAX], default 0.4) on CIFAR-10 (26 000-image train.tar) for a fixed budget of 1000 steps × 64 images
# on the CPU, then measure denoising on the 10 000 test images. Held-out PSNR at σ ∈ {0.05, 0.1, 0.2, 0.4}
# (512 seeded test images) is logged in runs/cifar-small/metrics.jsonl during training.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/cifar10
.venv/bin/denoscope train --data $DATA/train.tar --val-data $DATA/test.tar --preset small \
    --steps 1000 --batch-size 64 --sigma-max ${SIGMA_MAX:-0.4} --out runs/cifar-small --eval-every 250 --checkpoint-every 250 --log-every 25
.venv/bin/denoscope denoise --model runs/cifar-small --data $DATA/test.tar \
    --sigma 0.05 --sigma 0.1 --sigma 0.2 --sigma 0.4 --batch-size 250 --out runs/cifar-small-test
