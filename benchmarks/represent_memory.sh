#!/usr/bin/env bash
# Extraction throughput (images × draws per second) and peak memory (max RSS) for N = 10 000 and 50 000 synthetic
# images through one model: memory should stay flat in N (rows are written with pwrite, nothing is held).
# Usage: bash benchmarks/represent_memory.sh RUN
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-runs/cifar-paper-small}
for N in 10000 50000; do
  rm -rf "runs/rep-memory-$N"
  /usr/bin/time -f "N=$N peak RSS %M KiB, wall %e s" .venv/bin/denoscope represent --model "$MODEL" \
      --data "synthetic:shapes?n=$N&size=32&seed=5" --sigma 0 0.5 --noise-draws 2 --blocks mid --maps 0 \
      --batch-size 64 --out "runs/rep-memory-$N" 2>&1 | grep -v "━" | tail -3
done
