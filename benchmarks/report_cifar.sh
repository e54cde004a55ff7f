#!/usr/bin/env bash
# Reports of a CIFAR-10 `paper-small` model (benchmarks/cifar.sh NAME …), then their explorers' load times:
#  1. its training, test-set denoising, φ of 1 000 CIFAR-10 test images and their analysis, its samples, inverse problems,
#     reconstructions and distance (benchmarks/cifar_representation.sh, benchmarks/sampling.sh);
#  2. where runs/rep-memory-50000 exists (benchmarks/represent_memory.sh), the model's φ of 50 000 synthetic images,
#     analysed here, in the explorer.
# Usage: bash benchmarks/report_cifar.sh [RUN]   (default runs/cifar-paper-small)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/cifar-paper-small}; NAME=$(basename "$RUN")
S=runs/sampling-$NAME
/usr/bin/time -f "report 1: %e s, %M KiB" .venv/bin/denoscope report "$RUN" "$RUN-test" \
    "runs/rep-$NAME" "runs/analysis-$NAME" $S/samples $S/inverse-* $S/reconstruct $S/distance \
    --out "runs/report-$NAME" --title "CIFAR-10 $NAME: 1 000 test images"
.venv/bin/python benchmarks/explorer_load.py "runs/report-$NAME"
if [ ! -d runs/rep-memory-50000 ]; then
  echo "runs/rep-memory-50000 is missing: run benchmarks/represent_memory.sh $RUN for the 50 000-image explorer"
  exit 0
fi
if [ ! -f runs/analysis-50k/metrics.json ]; then
  .venv/bin/denoscope analyse --rep runs/rep-memory-50000 --images "synthetic:shapes?n=50000&size=32&seed=5" --k 10 --out runs/analysis-50k
fi
/usr/bin/time -f "report 2: %e s, %M KiB" .venv/bin/denoscope report "$RUN" runs/rep-memory-50000 runs/analysis-50k \
    --out runs/report-cifar-50k --title "CIFAR-10 $NAME: φ of 50 000 synthetic images"
.venv/bin/python benchmarks/explorer_load.py runs/report-cifar-50k
