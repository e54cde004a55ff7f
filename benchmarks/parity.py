"""Digest every number a parity.sh folder holds (metrics.json, metrics.jsonl, .npz), leaving out timings, and
compare two digests: what a refactor that should change no result changed."""

import json
import math
import sys
from pathlib import Path

import numpy as np

TIMINGS = ("seconds", "images_per_s", "per_s", "compile", "elapsed", "time")


def flatten(value, prefix: str, into: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}", into)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            flatten(v, f"{prefix}[{i}]", into)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and not any(t in prefix for t in TIMINGS):
        into[prefix] = value
    elif isinstance(value, (str, bool)) or value is None:
        if not any(t in prefix for t in TIMINGS) and not (isinstance(value, str) and "/" in value):
            into[prefix] = value


def digest(folder: Path) -> dict:
    into: dict = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if "report/" in rel or rel.startswith("report"):
            continue
        if path.name == "metrics.json":
            flatten(json.loads(path.read_text()), rel, into)
        elif path.name == "metrics.jsonl":
            for i, line in enumerate(path.read_text().splitlines()):
                flatten(json.loads(line), f"{rel}:{i}", into)
        elif path.suffix == ".npz":
            with np.load(path) as z:
                for k in z.files:
                    a = z[k]
                    if a.dtype.kind in "fiub" and a.size:
                        into[f"{rel}:{k}"] = [list(a.shape), float(np.asarray(a, dtype=np.float64).sum()), float(np.abs(np.asarray(a, dtype=np.float64)).max())]
        elif path.suffix == ".npy" and "means" in rel:
            a = np.load(path)
            into[f"{rel}"] = [list(a.shape), float(a.astype(np.float64).sum())]
    return into


def close(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-5 * max(1.0, abs(a), abs(b))
    return a == b


def compare(before: dict, after: dict) -> int:
    changed = [k for k in before if k in after and not close(before[k], after[k])]
    gone, new = sorted(set(before) - set(after)), sorted(set(after) - set(before))
    same = sum(1 for k in before if k in after and close(before[k], after[k]))
    print(f"{same} values equal, {len(changed)} changed, {len(gone)} gone, {len(new)} new")
    for k in changed[:60]:
        print(f"changed {k}: {before[k]} -> {after[k]}")
    for k in gone[:30]:
        print(f"gone {k}")
    for k in new[:30]:
        print(f"new {k}")
    return 1 if changed or gone else 0


if __name__ == "__main__":
    if sys.argv[1] == "digest":
        print(json.dumps(digest(Path(sys.argv[2])), indent=0, sort_keys=True))
    else:
        sys.exit(compare(*(json.loads(Path(p).read_text()) for p in sys.argv[2:4])))
