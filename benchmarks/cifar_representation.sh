#!/usr/bin/env bash
# φ and every analysis of §2 for a CIFAR-10 model on held-out test images (a seeded subset of test.tar).
# Usage: bash benchmarks/cifar_representation.sh RUN [N_IMAGES] [DRAWS]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-runs/cifar-paper-small}; N=${2:-2000}; DRAWS=${3:-8}
NAME=$(basename "$MODEL")
TEST=../shared/data/cifar10/test.tar
rm -rf "runs/rep-$NAME" "runs/analysis-$NAME"
.venv/bin/denoscope represent --model "$MODEL" --data $TEST --max-images "$N" --noise-draws "$DRAWS" --inputs \
    --batch-size 32 --out "runs/rep-$NAME"
.venv/bin/denoscope analyse --rep "runs/rep-$NAME" --images $TEST --max-images "$N" --k 10 --k 50 --out "runs/analysis-$NAME"
