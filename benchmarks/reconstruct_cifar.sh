#!/usr/bin/env bash
# Reconstruction from φ (the paper's §3, Alg. 1–2, fig. 7) of 20 CIFAR-10 test images, 2 per class (indices c·1000 and
# c·1000 + 500), all targets and samples in one batch, held against 8 unguided samples from the same starts, 8 random
# test images and a linear probe trained on φ of 1 000 training images (issue 26).
# Usage: bash benchmarks/reconstruct_cifar.sh RUN OUT [N] [more reconstruct options, e.g. --h0 0.05 --beta 0.05]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1; OUT=$2; N=${3:-2}; shift $(( $# < 3 ? $# : 3 ))
DATA=../shared/data/cifar10
INDEX=(); for c in 0 1 2 3 4 5 6 7 8 9; do INDEX+=(--index $((c * 1000)) --index $((c * 1000 + 500))); done
PYTHONPATH=src ${PYTHON:-.venv/bin/python} -m denoscope reconstruct --model "$MODEL" --data $DATA/test.tar "${INDEX[@]}" --n "$N" \
  --baselines 8 --probe-data $DATA/train.tar --probe-images 1000 --mean-from $DATA/train.tar --out "$OUT" "$@"
