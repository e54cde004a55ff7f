#!/usr/bin/env bash
# The demo's recipe: variants side by side on synthetic shapes (32×32, σ ∈ [0, 1]), one thread each, the same
# data order and noise. Held-out PSNR (64 images, eval mode) at σ = 0.05 … 1 in runs/demo-recipe-NAME/metrics.jsonl.
# Usage: bash benchmarks/demo_recipe.sh NAME "TRAIN OPTIONS" [NAME "TRAIN OPTIONS" …]
#   e.g. bash benchmarks/demo_recipe.sh small "--preset small --steps 600" paper-small "--preset paper-small --steps 600"
# then: python benchmarks/heldout_table.py runs/demo-recipe-*
set -euo pipefail
cd "$(dirname "$0")/.."
COMMON=(--data "synthetic:shapes?n=4096&size=32&seed=0" --batch-size 32 --sigma-max 1 --holdout 64 --lr 1e-3
        --lr-halve-every 2 --log-every 50 --eval-every 200 --checkpoint-every 100000
        --eval-sigma 0.05 --eval-sigma 0.1 --eval-sigma 0.2 --eval-sigma 0.4 --eval-sigma 1)
while [ $# -ge 2 ]; do
  name=$1; read -r -a opts <<< "$2"; shift 2
  rm -rf "runs/demo-recipe-$name"
  OMP_NUM_THREADS=1 .venv/bin/denoscope train --out "runs/demo-recipe-$name" "${COMMON[@]}" "${opts[@]}" > "runs/demo-recipe-$name.log" 2>&1 &
done
wait
