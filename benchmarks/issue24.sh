#!/usr/bin/env bash
# Issue 24 on a CPU: the adaptive basis (Jacobian) of the paper-small CIFAR model at three σ, and the
# memorisation → generalisation experiment on CIFAR-10 gray 32×32 (small preset at width 8, 400 steps of 16 per model).
# Usage: PYTHONPATH=src OMP_NUM_THREADS=1 bash benchmarks/issue24.sh OUT
set -euo pipefail
OUT=${1:-/tmp/issue24}
python -m denoscope jacobian --model /work/runs/cifar-paper-small --data ../shared/data/cifar10/test.tar --index 0 \
    --sigma 0.05 0.2 0.5 --top 16 --out "$OUT/jacobian"
python -m denoscope generalize --data ../shared/data/cifar10/train.tar --channels 1 --sizes 1 10 100 1000 --steps 400 \
    --preset small --width 8 --batch-size 16 --holdout 256 --samples 8 --seed 0 --out "$OUT/generalize"
# a bias-free gray model (the 2023 layer: batch std, no biases) for the D(y) = J·y check on a trained network
python -m denoscope train --data ../shared/data/cifar10/train.tar --val-data ../shared/data/cifar10/test.tar --channels 1 \
    --preset paper-2023 --width 16 --steps 600 --batch-size 32 --sigma-max 1 --holdout 256 --eval-every 300 --out "$OUT/bf-run"
python -m denoscope jacobian --model "$OUT/bf-run" --data ../shared/data/cifar10/test.tar --index 0 --sigma 0.05 0.2 0.5 --top 16 \
    --out "$OUT/bf-jacobian"
