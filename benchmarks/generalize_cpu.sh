#!/usr/bin/env bash
# Issue 24 on a CPU: memorisation → generalisation on CIFAR-10 gray downsampled to 16×16, N = 1 … 10 000, `small` at
# width 8, a budget per N (6 000 / 4 000 / 8 000 / 12 000 / 12 000 steps of 32, learning rate halved every 2 000 steps),
# 16 samples per model; the samples twice: with the authors' β = 0.01 and with β = 0.1 (the same models, linked, not
# retrained); then width 16 at N = 1 and 10 000; then the 2023 paper's bias-free network (`paper-2023`) at width 8.
# ≈ 80 min of training per width-8 set on one core (--workers 2, two models at a time on two cores: half), 5 min per
# comparison.
# Numbers and figures: benchmarks/RESULTS.md, benchmarks/results/generalize-gray16-*.
# Usage: PYTHONPATH=src OMP_NUM_THREADS=1 bash benchmarks/generalize_cpu.sh OUT
set -euo pipefail
OUT=${1:-/tmp/generalize}
DATA=(--data ../shared/data/cifar10/train.tar --channels 1 --image-size 16 --batch-size 32 --lr-halve-steps 2000 --holdout 256
      --samples 16 --seed 0 --workers 2)
W8=(--sizes 1 10 100 1000 10000 --steps 6000 --steps 4000 --steps 8000 --steps 12000 --steps 12000 --width 8)
W16=(--sizes 1 10000 --steps 2000 --steps 12000 --width 16)
linked() {  # $1: a trained generalize folder, $2: a new folder whose N-xxxxxx are links to it (the runs are shared)
  mkdir -p "$2"
  for run in "$1"/N-*; do ln -sfn "$(realpath "$run")" "$2/$(basename "$run")"; done
}
python -m denoscope generalize "${DATA[@]}" --preset small "${W8[@]}" --out "$OUT/w8"
linked "$OUT/w8" "$OUT/w8-beta0.1"
python -m denoscope generalize "${DATA[@]}" --preset small "${W8[@]}" --beta 0.1 --out "$OUT/w8-beta0.1"
python -m denoscope generalize "${DATA[@]}" --preset small "${W16[@]}" --out "$OUT/w16"
linked "$OUT/w16" "$OUT/w16-beta0.1"
python -m denoscope generalize "${DATA[@]}" --preset small "${W16[@]}" --beta 0.1 --out "$OUT/w16-beta0.1"
python -m denoscope generalize "${DATA[@]}" --preset paper-2023 "${W8[@]}" --out "$OUT/bf8"
linked "$OUT/bf8" "$OUT/bf8-beta0.1"
python -m denoscope generalize "${DATA[@]}" --preset paper-2023 "${W8[@]}" --beta 0.1 --out "$OUT/bf8-beta0.1"
