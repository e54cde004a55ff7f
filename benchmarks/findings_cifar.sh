#!/usr/bin/env bash
# Issue 21: the paper's findings on a CIFAR-10 model, as the paper states them (analysis/findings.py): φ and every block's
# ā (inputs too) of N held-out test images at fig. 2's noise levels, every analysis of §2, and the findings as a table.
# σ ∈ {0, 10, 30, 50, 90, 130, 190, 255}/255: the authors' levels within the models' training range σ ≤ 1, thinned for a CPU
# (fig. 2's σ₂ range, 30/255 … 1 once σ₂ < 0.1 is left out, keeps 5 levels besides σ₁ = 130/255 ≈ 0.51, where φ is read).
# K-means at k = 20 first (190 pairs: the paper's 100 random cluster pairs), then k = 10 (CIFAR-10's class count).
# Usage: bash benchmarks/findings_cifar.sh MODEL OUT [N_IMAGES] [NOISE_DRAWS]
#   e.g. OMP_NUM_THREADS=1 bash benchmarks/findings_cifar.sh ../shared/models/paper-cifar-h200 runs/findings-h200 1000 3
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1; OUT=$2; N=${3:-1000}; DRAWS=${4:-3}
PY=${PYTHON:-.venv/bin/python}
TEST=../shared/data/cifar10/test.tar
SIGMAS=$($PY -c "print(' '.join(str(s / 255) for s in (0, 10, 30, 50, 90, 130, 190, 255)))")
$PY -m denoscope represent --model "$MODEL" --data $TEST --max-images "$N" --inputs --noise-draws "$DRAWS" \
    --sigma $SIGMAS --out "$OUT/rep"
$PY -m denoscope analyse --rep "$OUT/rep" --images $TEST --max-images "$N" --k 20 --k 10 --out "$OUT/analysis"
$PY benchmarks/findings_table.py "$(basename "$MODEL")=$OUT/analysis"
