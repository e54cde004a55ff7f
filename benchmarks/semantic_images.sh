#!/usr/bin/env bash
# Figs. 5, 14 and 6 of paper-cifar-h200 against the number of images: φ at σ = 130/255 (the findings' level) from 20
# noise draws (the paper's), middle block only, of a seeded subset of N CIFAR-10 test images for each N given, then
# analyse (K-means k = 20 and 10). The neighbours, 20-NN and linear probe of φ against pixels, and the clusters, as N
# grows (the probe trains on three quarters of the N images). RESULTS.md: "Figs. 5, 14 and 6 against the number of images".
# Usage: bash benchmarks/semantic_images.sh OUT N [N ...]   e.g. bash benchmarks/semantic_images.sh runs/semantic 2000 5000 10000
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$1; shift
MODEL=../shared/models/paper-cifar-h200
TEST=../shared/data/cifar10/test.tar
PY=${PYTHON:-.venv/bin/python}
for N in "$@"; do
    /usr/bin/time -f "represent N=$N: %e s, %M KiB" $PY -m denoscope represent --model "$MODEL" --data $TEST --max-images "$N" \
        --sigma 0.5098 --noise-draws 20 --blocks mid --chunk 256 --out "$OUT/rep-$N"
    /usr/bin/time -f "analyse N=$N: %e s, %M KiB" $PY -m denoscope analyse --rep "$OUT/rep-$N" --images $TEST --max-images "$N" \
        --sigma 0.5098 --k 20 --k 10 --out "$OUT/analysis-$N"
done
