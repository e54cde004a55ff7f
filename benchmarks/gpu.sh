#!/usr/bin/env bash
# The prepared GPU check (issue 20): every command on CUDA, the training throughput table, extraction and sampling
# rates, in one go within 8 minutes on one H100/H200, everything under $OUT (default runs/gpu-check).
#
#   PYTHONPATH=src bash benchmarks/gpu.sh [runs/gpu-data/cifar10-19000.npz]   # on the GPU machine, from a checkout
#   bash benchmarks/gpu.sh --cpu                                              # the tiny CPU form (tests/test_gpu_script.py)
#
# Writes environment.json (packages found and missing), smoke.md/.json and logs/ (each command's exit code, wall
# time and output), throughput/throughput.md/.jsonl (training images/s per lever and size with peak memory, then
# extraction and sampling rates) and summary.md (all of it, printed at the end). Exits 0 when every command exited 0.
# Without a data file the commands and the throughput run on synthetic shapes. $PYTHON picks the interpreter.
set -uo pipefail
cpu=0
data=""
for arg in "$@"; do
  case "$arg" in
    --cpu) cpu=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) data="$arg" ;;
  esac
done
if [ -n "$data" ] && [ ! -f "$data" ]; then echo "no such data file: $data" >&2; exit 2; fi
[ -n "$data" ] && data=$(realpath "$data")
[ -n "${OUT:-}" ] && mkdir -p "$OUT" && OUT=$(realpath "$OUT")
cd "$(dirname "$0")/.."
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
OUT=${OUT:-runs/gpu-check}
mkdir -p "$OUT"
rm -f "$OUT/throughput/throughput.jsonl" "$OUT/throughput/throughput.md"
until_() { local left=$(( $1 - SECONDS )); echo $(( left > 1 ? left : 1 )); }  # seconds left before second $1 of the run
tp() {  # throughput.py under a time limit; the rows it finished are kept
  timeout "$1" "$PY" benchmarks/throughput.py "${@:2}" --out "$OUT/throughput" || echo "throughput.py stopped (exit $?); its finished rows are kept"
}

if [ $cpu = 1 ]; then
  "$PY" benchmarks/smoke.py --out "$OUT" --device cpu --tiny --data "${data:-synthetic:shapes?n=64&size=16&seed=0}" --budget 150
  smoke=$?
  tp 120 --device cpu --preset tiny --sizes 16 --batch 8 --steps 3 --variants plain fp32 bf16+fused-adam bf16+ema \
    --extraction --extract-images 4 --draws 2 --chunks 16 --sampling --sample-steps 2 --sample-batches 4 ${data:+--data "$data"}
else
  "$PY" benchmarks/smoke.py --out "$OUT" --device cuda --data "${data:-synthetic:shapes?n=1024&size=32&seed=0}" --budget 190
  smoke=$?
  # what the issue asks for at both sizes first, then the inference rates, then each lever alone while time is left
  tp "$(until_ 360)" --device cuda --preset paper --sizes 64 32 --batch 256 --steps 30 ${data:+--data "$data"} \
    --variants plain bf16 bf16+compile+fused-adam
  tp "$(until_ 400)" --device cuda --preset paper --sizes 32 64 --variants --extraction --extract-images 256 --draws 20 \
    --chunks 64 512 2048 --sampling --sample-steps 20 --sample-batches 64 512 2048
  tp "$(until_ 460)" --device cuda --preset paper --sizes 64 --batch 256 --steps 30 ${data:+--data "$data"} \
    --variants fp32 bf16+fused-adam bf16+ema bf16+cuda-graphs+fused-adam bf16+compile "bf16+compile+fused-adam, 2x batch"
fi
{
  echo "# denoscope GPU check ($(date -u +%FT%TZ), ${SECONDS} s in all)"
  echo
  echo "## every command (cpu=$cpu, data: ${data:-synthetic})"
  echo
  cat "$OUT/smoke.md" 2>/dev/null || echo "(smoke.py wrote no table)"
  echo
  echo "## throughput"
  echo
  cat "$OUT/throughput/throughput.md" 2>/dev/null || echo "(no rows)"
} > "$OUT/summary.md"
cat "$OUT/summary.md"
exit $smoke
