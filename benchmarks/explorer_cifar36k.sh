#!/usr/bin/env bash
# The explorer on every CIFAR-10 image we ship (train.tar + test.tar joined: 36 000 real images) with the full-size
# `paper` model (../shared/models/paper-cifar-h200): φ at σ = 130/255 (the findings' level) from 4 noise draws, the
# analyses of §2 with K-means k = 10 and 20, the report and its explorer, then the explorer's load times in headless
# Chromium. RESULTS.md: "The explorer on all 36 000 CIFAR-10 images".
# Usage: bash benchmarks/explorer_cifar36k.sh OUT
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/cifar36k}
MODEL=../shared/models/paper-cifar-h200
DATA=../shared/data/cifar10/train.tar+../shared/data/cifar10/test.tar
/usr/bin/time -f "represent: %e s, %M KiB" .venv/bin/denoscope represent --model "$MODEL" --data "$DATA" --sigma 0.5098 \
    --noise-draws 4 --blocks mid --batch-size 64 --chunk 256 --out "$OUT/rep"
/usr/bin/time -f "analyse: %e s, %M KiB" .venv/bin/denoscope analyse --rep "$OUT/rep" --images "$DATA" --sigma 0.5098 \
    --k 10 --k 20 --out "$OUT/analysis"
/usr/bin/time -f "report: %e s, %M KiB" .venv/bin/denoscope report "$MODEL" "$OUT/rep" "$OUT/analysis" --out "$OUT/report" \
    --title "paper-cifar-h200: φ of all 36 000 CIFAR-10 images"
.venv/bin/python benchmarks/explorer_load.py "$OUT/report"
