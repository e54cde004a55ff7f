#!/usr/bin/env bash
# Reports of the CIFAR-10 `paper-small` model (benchmarks/cifar.sh paper-small …), then their explorers' load times:
#  1. its training, test-set denoising, φ of 1 000 CIFAR-10 test images and their analysis, its samples, inverse problems,
#     reconstructions and distance (benchmarks/cifar_representation.sh, benchmarks/sampling.sh);
#  2. the same model's φ of 50 000 synthetic images (benchmarks/represent_memory.sh), analysed here, in the explorer.
set -euo pipefail
cd "$(dirname "$0")/.."
S=runs/sampling-cifar-paper-small
/usr/bin/time -f "report 1: %e s, %M KiB" .venv/bin/denoscope report runs/cifar-paper-small runs/cifar-paper-small-test \
    runs/rep-cifar-paper-small runs/analysis-cifar-paper-small $S/samples $S/inverse-* $S/reconstruct $S/distance \
    --out runs/report-cifar-paper-small --title "CIFAR-10 paper-small: 1 000 test images"
if [ ! -f runs/analysis-50k/metrics.json ]; then
  .venv/bin/denoscope analyse --rep runs/rep-memory-50000 --images "synthetic:shapes?n=50000&size=32&seed=5" --k 10 --out runs/analysis-50k
fi
/usr/bin/time -f "report 2: %e s, %M KiB" .venv/bin/denoscope report runs/cifar-paper-small runs/rep-memory-50000 runs/analysis-50k \
    --out runs/report-cifar-50k --title "CIFAR-10 paper-small: φ of 50 000 synthetic images"
.venv/bin/python benchmarks/explorer_load.py runs/report-cifar-paper-small
.venv/bin/python benchmarks/explorer_load.py runs/report-cifar-50k
