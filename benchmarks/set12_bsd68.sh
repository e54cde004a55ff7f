#!/usr/bin/env bash
# A grayscale `small` model trained on gray Tiny ImageNet patches (4 000 train images, 40×40 random patches, σ ≤ 0.25),
# then the classic test sets as whole images (Set12: 256² and 512²; BSD68: 481×321) at σ = 15, 25, 50 / 255.
# Usage: bash benchmarks/set12_bsd68.sh [STEPS] ["MORE TRAIN OPTIONS"]   (default 2800 × 64 patches, fp32: about 30
# minutes of 2 cores; later options win. The 30-minute recipe of RESULTS.md: 6000 "--lr-halve-every 24 --amp --compile")
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-2800}; read -r -a OPTS <<< "${2:-}"
DATA=../shared/data
rm -rf runs/gray-small runs/{set12,bsd68}-gray-small{,-raw}
start=$(date +%s)
.venv/bin/denoscope train --data $DATA/tinyimagenet64/train.tar --val-data $DATA/tinyimagenet64/val.tar --channels 1 \
    --image-size 40 --resize random-patch --preset small --sigma-max 0.25 --batch-size 64 --lr-halve-every 12 \
    --ema 0.999 --steps "$STEPS" --eval-every $((STEPS / 4)) --checkpoint-every $((STEPS / 4)) --log-every 25 \
    --eval-sigma 0.0588 --eval-sigma 0.098 --eval-sigma 0.196 --out runs/gray-small "${OPTS[@]}"
echo "training wall time: $(( $(date +%s) - start )) s"
# the EMA's weights (runs/gray-small) and the trained weights (its checkpoint), each on both sets
for set in set12 bsd68; do
  for model in runs/gray-small:"" runs/gray-small/checkpoint.safetensors:-raw; do
    .venv/bin/denoscope denoise --model "${model%%:*}" --data $DATA/denoise/$set --channels 1 \
        --sigma 0.0588235 0.0980392 0.1960784 --batch-size 1 --out "runs/$set-gray-small${model#*:}"
  done
done
