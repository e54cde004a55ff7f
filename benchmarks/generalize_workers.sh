#!/usr/bin/env bash
# generalize's --workers on this machine's cores: one recipe (CIFAR-10 gray 16×16, N = 1, 100, 1 000, `small` at width 8,
# 1 000 steps of 32 per model, 8 samples) trained one model after another (all cores in one process) and two at a time
# (one process per core); wall time of each and their headline numbers side by side. RESULTS.md, issue 20's section.
# Usage: PYTHONPATH=src bash benchmarks/generalize_workers.sh OUT
set -euo pipefail
OUT=${1:-/tmp/generalize-workers}
ARGS=(--data ../shared/data/cifar10/train.tar --channels 1 --image-size 16 --sizes 1 100 1000 --steps 1000 --preset small
      --width 8 --batch-size 32 --holdout 256 --samples 8 --beta 0.1 --seed 0)
for workers in 1 2; do
  rm -rf "$OUT/workers-$workers"
  start=$SECONDS
  python -m denoscope generalize "${ARGS[@]}" --workers "$workers" --out "$OUT/workers-$workers" > "$OUT-workers-$workers.log" 2>&1
  echo "workers $workers: $((SECONDS - start)) s ($(nproc) cores, torch threads $(python -c 'import torch; print(torch.get_num_threads())'))"
  grep "^N=" "$OUT-workers-$workers.log"
done
