"""Break each hostile-input fix of issue 22 (round three) once, in a copy of src/, and run the tests of
tests/test_hostile.py meant to catch it: every line must say CAUGHT.

Usage: python benchmarks/hostile_mutants.py [K ...]   (only mutants K; the two demo mutants run the quick demo, minutes each)
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WT = Path(__file__).resolve().parents[1]
M = Path(tempfile.mkdtemp(prefix="hostile-mutants-"))
MUTANTS = [
    ("cli.py", "    data, probe_data = open_given(data, probe_data, channels=denoiser.config.channels)\n", "", "probe_source"),
    ("sampling/inputs.py", "    if count > distinct:", "    if False:", "capped"),
    ("sampling/inputs.py", "    if n > len(images):\n        warnings.warn", "    if False:\n        warnings.warn", "capped"),
    ("data/images.py", "        if n > len(self):\n            warnings", "        if False:\n            warnings", "capped"),
    ("analysis/jacobian.py", "    if top > x.numel():", "    if False:", "jacobian_refuses"),
    ("demo.py", 'check_writable(out, "demo output folder", stage="demo")', 'check_writable(out, "demo output folder")', "demo_refuses and rep"),
    ("demo.py", "any(p.name not in STAGE_FOLDERS for p in out.iterdir())", "False", "demo_refuses and images"),
    ("demo.py", "any(p.name not in STAGE_FOLDERS for p in out.iterdir())", "any(out.iterdir())", "takes_a_folder"),
    ("training.py", "    model.check_input(torch.empty(1, model.config.channels, h, w, device=\"meta\"))\n    model.check_input(heldout)\n", "", "cannot_take or cannot_take_are"),
    ("training.py", "    model.check_input(heldout)\n", "", "cannot_take_are"),
    ("cli.py", "        say_notes([*images.notes, *([note] if note else [])])", "        say_notes([note] if note else [])", "converted_its_source"),
    ("training.py", "            for name in (RUN_CONFIG, METRICS, MARKER):", "            for name in ():", "cannot_take"),
    ("training.py", "    if used >= config.holdout:", "    if True:", "holdout_larger"),
    ("training.py", '        if resume and "data" not in train_given:', "        if False:", "resume_of_a_folder"),
    ("representation/extract.py", "    if far:", "    if False:", "far_beyond"),
    ("representation/store.py", "        if abs(nearest - sigma) <= 0.1 * max(abs(sigma), nearest):", "        if True:", "stands_in"),
    ("sampling/inputs.py", "    for note in opened.notes:", "    for note in []:", "gray_model"),
    ("representation/store.py", "        if array is None:\n            fix", "        if False:\n            fix", "killed"),
    ("representation/store.py", "    except (ValueError, EOFError) as e:", "    except ZeroDivisionError as e:", "killed"),
]
only = [int(a) for a in sys.argv[1:]]
for k, (file, old, new, expr) in enumerate(MUTANTS):
    if only and k not in only:
        continue
    shutil.rmtree(M / "src", ignore_errors=True)
    shutil.copytree(WT / "src", M / "src")
    path = M / "src" / "denoscope" / file
    text = path.read_text()
    assert text.count(old) == 1, (file, old)
    path.write_text(text.replace(old, new))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_hostile.py", "-k", expr],
                          cwd=WT, env={**os.environ, "PYTHONPATH": str(M / "src"), "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    last = done.stdout.strip().splitlines()[-1]
    print(f"{k:2d} {'CAUGHT' if done.returncode else 'MISSED'} {file}: {old.strip()[:60]!r} -> {expr}: {last}", flush=True)
shutil.rmtree(M, ignore_errors=True)
