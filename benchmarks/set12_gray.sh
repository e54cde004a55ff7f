#!/usr/bin/env bash
# A grayscale `small` denoiser trained on CIFAR-10 converted to gray, evaluated on whole Set12 and BSD68
# images (any size; padded to a multiple of 8 where needed).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
.venv/bin/denoscope train --data $DATA/cifar10/train.tar --val-data $DATA/cifar10/test.tar --channels 1 \
    --preset small --steps ${STEPS:-800} --batch-size 64 --out runs/cifar-gray --eval-every 400 --checkpoint-every 400 --log-every 25
for set in set12 bsd68; do
  .venv/bin/denoscope denoise --model runs/cifar-gray --data $DATA/denoise/$set \
      --sigma 0.05 --sigma 0.1 --sigma 0.2 --batch-size 1 --out runs/$set-gray
done
