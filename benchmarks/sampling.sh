#!/usr/bin/env bash
# Reverse diffusion with a trained model (default the CIFAR-10 paper-small run): unconditional samples, every inverse problem on held-out images,
# reconstructions from φ of held-out images, and the distance between conditional densities for random pairs.
# Usage: bash benchmarks/sampling.sh RUN [DATA] [SECOND_TARGET]   (DATA: held-out source, default CIFAR-10 test.tar;
# the targets of the reconstructions are images 0 and SECOND_TARGET, default 1000: the first airplane and automobile)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-runs/cifar-paper-small}; NAME=$(basename "$MODEL")
TEST=${2:-../shared/data/cifar10/test.tar}
OUT=runs/sampling-$NAME
rm -rf "$OUT"
.venv/bin/denoscope sample --model "$MODEL" --n 8 --out "$OUT/samples"
for task in pixels box superres deblur cs; do
  .venv/bin/denoscope inverse --model "$MODEL" --data "$TEST" --task $task --n 4 --out "$OUT/inverse-$task"
done
.venv/bin/denoscope reconstruct --model "$MODEL" --data "$TEST" --index 0 --index "${3:-1000}" --n 4 --out "$OUT/reconstruct"
.venv/bin/denoscope distance --model "$MODEL" --data "$TEST" --pairs 20 --n 2 --levels 5 --h0 0.05 --beta 0.05 --out "$OUT/distance"
