#!/usr/bin/env bash
# The colour CIFAR-10 `small` model of `bash benchmarks/cifar.sh small …` on the classic grayscale test sets, whole images
# (Set12: 256² and 512²; BSD68: 481×321), the gray values repeated into 3 channels (--channels 3).
set -euo pipefail
cd "$(dirname "$0")/.."
for set in set12 bsd68; do
  .venv/bin/denoscope denoise --model runs/cifar-small --data ../shared/data/denoise/$set --channels 3 \
      --sigma 0.05 --sigma 0.1 --sigma 0.2 --batch-size 4 --out runs/$set-small
done
