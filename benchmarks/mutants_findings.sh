#!/usr/bin/env bash
# Issue 21: put in, one at a time, each mutant that survived the sweep of main 9dd6818; run the test that must catch it;
# restore the line. Every line printed should say "failed". Refuses to run over uncommitted changes to the mutated files.
# Usage: bash benchmarks/mutants_findings.sh   (PYTHON=… to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
FILES="src/denoscope/nn/norms.py src/denoscope/analysis/sparsity.py src/denoscope/sampling/engine.py src/denoscope/analysis/findings.py"
git diff --quiet -- $FILES || { echo "uncommitted changes in $FILES: commit or stash them first"; exit 1; }
mutant() {  # name file old new pytest-args…
  local name=$1 file=$2 old=$3 new=$4; shift 4
  $PY - "$file" "$old" "$new" <<'PY'
import sys
p, old, new = sys.argv[1:4]
s = open(p).read(); assert old in s, (p, old); open(p, "w").write(s.replace(old, new, 1))
PY
  echo "$name: $(PYTHONPATH=src $PY -m pytest -q -p no:cacheprovider "$@" 2>&1 | tail -1)"
  git checkout -q -- "$file"
}
F=src/denoscope/analysis/findings.py
CAPTIONS=(tests/test_report.py -k "caption_and_glance or distance_caption or neighbours_caption")
mutant "layer norm per channel (instance norm)" src/denoscope/nn/norms.py "std(dim=(1, 2, 3)" "std(dim=(2, 3)" tests/test_unet.py -k layer_norm_divides
mutant "PR with the signed sum" src/denoscope/analysis/sparsity.py "l1 = np.abs(v).sum(axis=axis)" "l1 = v.sum(axis=axis)" tests/test_analysis_stats.py -k participation
mutant "γ² where γ belongs" src/denoscope/sampling/engine.py "gamma = sigma * math.sqrt(max((1 - config.beta * h) ** 2 - (1 - h) ** 2, 0.0))" \
    "gamma = sigma**2 * max((1 - config.beta * h) ** 2 - (1 - h) ** 2, 0.0)" tests/test_engine.py -k inject
mutant "β where βh belongs" src/denoscope/sampling/engine.py "(1 - config.beta * h) ** 2" "(1 - config.beta) ** 2" tests/test_engine.py -k inject
mutant "mean PR shown for the median" $F 'pr, rises = s["pr_median"], s.get("pr_rises", {})' 'pr, rises = s["pr_mean"], s.get("pr_rises", {})' "${CAPTIONS[@]}"
mutant "A printed where B belongs" $F "(A = {d['A']:.4g}, B = {d['B']:.4g})" "(A = {d['B']:.4g}, B = {d['A']:.4g})" "${CAPTIONS[@]}"
mutant "φ's and pixels' agreement swapped" $F "φ {f3(every['label_agreement'])} vs pixels {f3(every['pixel_label_agreement'])}" \
    "φ {f3(every['pixel_label_agreement'])} vs pixels {f3(every['label_agreement'])}" "${CAPTIONS[@]}"
