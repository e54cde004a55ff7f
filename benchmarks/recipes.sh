#!/usr/bin/env bash
# Recipe experiments on the demo's data (synthetic shapes, 32×32, σ ∈ [0, 1]): one budget, one seed, variants of
# norm, gain init, head and learning rate. Each run logs held-out PSNR (256 images, eval mode) at σ = 0.05…1.
# Usage: bash benchmarks/recipes.sh [STEPS] ; then python benchmarks/heldout_table.py runs/recipe-*
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-800}
COMMON=(--data "synthetic:shapes?n=4096&size=32&seed=0" --steps "$STEPS" --batch-size 16 --sigma-max 1 --holdout 256
        --eval-every $((STEPS / 4)) --checkpoint-every "$STEPS" --log-every 50)
run() { name=$1; shift; rm -rf "runs/recipe-$name"; /usr/bin/time -f "$name %e s" .venv/bin/denoscope train --out "runs/recipe-$name" "${COMMON[@]}" "$@" 2>&1 | grep -v "━" | tail -3; }
run layer-one      --preset paper-small --lr 2e-3 --lr-halve-every 1
run layer-authors  --preset paper-small --lr 2e-3 --lr-halve-every 1 --gain-init authors
run batch-nobias   --preset paper-small --lr 2e-3 --lr-halve-every 1 --norm batch --no-bias
run residual       --preset small       --lr 2e-3 --lr-halve-every 1
run layer-lr1e-3   --preset paper-small --lr 1e-3
