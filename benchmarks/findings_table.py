"""The paper's findings of one or more analyse folders as Markdown: each model's numbers and verdicts, then verdicts side by side.

Usage: python benchmarks/findings_table.py NAME=ANALYSIS_FOLDER [NAME=ANALYSIS_FOLDER ...]
"""

import json
import sys
from pathlib import Path

from denoscope.analysis.findings import verdict_text


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def main(pairs: list[str]) -> None:
    runs = {name: json.loads((Path(folder) / "metrics.json").read_text()) for name, folder in (p.split("=", 1) for p in pairs)}
    for name, m in runs.items():
        print(f"\n**{name}** ({m['images']} images, φ at σ = {m['sigma']:.3f})\n")
        print("| figure | statistic | here | verdict | our stricter check | here | verdict |\n|---|---|---|---|---|---|---|")
        for f in m["findings"].values():
            s = f["stricter"]
            print(f"| {f['figure']} | {cell(f['statistic'])} | {cell(f['ours'])} | {verdict_text(f)} | {cell(s['check'])} | "
                  f"{cell(s['ours'])} | {verdict_text(s)} |")
    names = list(runs)
    first = runs[names[0]]["findings"]
    print("\n| figure | the paper says | " + " | ".join(f"{n}: verdict (stricter)" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for key, f in first.items():
        verdicts = [runs[n]["findings"].get(key) for n in names]
        shown = " | ".join("–" if v is None else f"{verdict_text(v)} ({verdict_text(v['stricter'])})" for v in verdicts)
        print(f"| {f['figure']} | {cell(f['statement'])} | {shown} |")


if __name__ == "__main__":
    main(sys.argv[1:])
