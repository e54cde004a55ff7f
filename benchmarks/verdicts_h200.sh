#!/usr/bin/env bash
# Issue 25 (part a): the findings of paper-cifar-h200 on 1 000 CIFAR-10 test images before (main at BEFORE) and after
# the live-channel rule and the verdicts that follow their numbers; the live-floor sweep of fig. 3.
# Usage: benchmarks/verdicts_h200.sh REP OUT [BEFORE=bd1f509]   (run from the repository root; one thread, ~1–3 min per analyse)
set -euo pipefail
REP=$1 OUT=$2 BEFORE=${3:-bd1f509}
PY=${PY:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT/before-src"
git archive "$BEFORE" src | tar -x -C "$OUT/before-src"
analyse() {  # SRC_DIR NAME
  PYTHONPATH=$1 /usr/bin/time -f "analyse: %e s, %M KiB" $PY -m denoscope analyse --rep "$REP" \
    --images ../shared/data/cifar10/test.tar --max-images 1000 --out "$OUT/$2" > "$OUT/$2.log" 2>&1
}
analyse "$OUT/before-src/src" before
analyse src after
PYTHONPATH=src $PY benchmarks/findings_table.py before="$OUT/before" after="$OUT/after" > "$OUT/findings.md"
PYTHONPATH=src $PY benchmarks/live_floor.py "$REP" "$OUT/live-floor.json" > "$OUT/live-floor.md"
