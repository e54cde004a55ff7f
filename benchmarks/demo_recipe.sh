#!/usr/bin/env bash
# The demo's recipe: residual vs image head on synthetic shapes (32×32, σ ∈ [0, 1]), side by side, one thread each.
# Usage: bash benchmarks/demo_recipe.sh [STEPS] ; then python benchmarks/heldout_table.py runs/demo-recipe-*
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-600}
COMMON=(--data "synthetic:shapes?n=4096&size=32&seed=0" --steps "$STEPS" --batch-size 32 --sigma-max 1 --holdout 64
        --lr 1e-3 --lr-halve-every 2 --eval-every $((STEPS / 3)) --checkpoint-every "$STEPS" --log-every 50
        --eval-sigma 0.05 --eval-sigma 0.1 --eval-sigma 0.2 --eval-sigma 0.4 --eval-sigma 1)
for preset in small paper-small; do
  rm -rf "runs/demo-recipe-$preset"
  OMP_NUM_THREADS=1 .venv/bin/denoscope train --out "runs/demo-recipe-$preset" --preset $preset "${COMMON[@]}" > "runs/demo-recipe-$preset.log" 2>&1 &
done
wait
