#!/usr/bin/env bash
# Every CLI command once on small settings, so that a refactor can be checked to leave their numbers unchanged:
#   bash benchmarks/parity.sh OUT && python benchmarks/parity.py digest OUT > OUT.json
#   python benchmarks/parity.py compare BEFORE.json AFTER.json
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # t-SNE and mutual information differ in the last digits between thread counts
out=${1:?usage: parity.sh OUT}
ds=${DENOSCOPE:-"python -m denoscope"}
rm -rf "$out" && mkdir -p "$out"
train=synthetic:shapes?n=256\&size=32\&seed=0
test=synthetic:shapes?n=48\&size=32\&seed=1000
$ds train --data "$train" --preset tiny --steps 40 --batch-size 16 --log-every 10 --eval-every 20 --checkpoint-every 20 --ema 0.99 --out "$out/run"
$ds train --out "$out/run" --steps 60 --resume
$ds denoise --model "$out/run" --data "$test" --sigma 0.05 0.1 0.4 --max-images 16 --out "$out/denoise"
$ds represent --model "$out/run" --data "$test" --noise-draws 2 --inputs --maps 16 --out "$out/rep"
$ds analyse --rep "$out/rep" --images "$test" --k 4 --out "$out/analysis"
$ds represent --model "$out/run" --data "$test" --noise-draws 2 --max-images 24 --seed 3 --blocks mid --out "$out/rep-subset"
$ds analyse --rep "$out/rep-subset" --images "$test" --max-images 24 --seed 3 --k 3 --out "$out/analysis-subset"
sampling="--h0 0.05 --beta 0.05 --max-steps 30"
$ds sample --model "$out/run" --n 3 $sampling --out "$out/sample"
$ds inverse --model "$out/run" --data "$test" --task superres --n 2 $sampling --out "$out/inverse"
$ds inverse --model "$out/run" --data "$test" --task cs --n 2 --seed 1 $sampling --out "$out/inverse-cs"
$ds reconstruct --model "$out/run" --data "$test" --index 3 --index 7 --n 2 --noise-draws 2 --max-iters 2 --baselines 2 \
    --probe-data "$train" --probe-images 64 $sampling --out "$out/reconstruct"
$ds reconstruct --model "$out/run" --rep "$out/rep" --cluster 1 --k 4 --n 2 --noise-draws 2 --max-iters 2 $sampling --out "$out/reconstruct-cluster"
$ds distance --model "$out/run" --data "$test" --pairs 3 --n 2 --levels 4 --noise-draws 2 --max-iters 2 $sampling --out "$out/distance"
$ds report "$out/run" "$out/rep" "$out/denoise" "$out/analysis" "$out/sample" "$out/inverse" "$out/reconstruct" "$out/distance" --out "$out/report"
