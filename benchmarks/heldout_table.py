"""Print the held-out PSNR lines of a run's metrics.jsonl as a Markdown table.

Usage: python benchmarks/heldout_table.py runs/cifar-small [RUN or metrics.jsonl …]
"""

import json
import sys
from pathlib import Path


def main() -> None:
    for run in sys.argv[1:]:
        path = Path(run) if Path(run).is_file() else Path(run) / "metrics.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines() if line]
        checks = [r for r in records if "psnr" in r]
        rates = [r["images_per_s"] for r in records if "images_per_s" in r][1:]
        sigmas = list(checks[0]["psnr"])
        print(f"\n{run}: mean training rate {sum(rates) / max(len(rates), 1):.1f} images/s (first log window left out)\n")
        print("| step | " + " | ".join(f"σ={s}: denoised / noisy (gain)" for s in sigmas) + " |")
        print("|---" * (len(sigmas) + 1) + "|")
        for r in checks:
            cells = [f"{r['psnr'][s]:.2f} / {r['psnr_input'][s]:.2f} ({r['psnr'][s] - r['psnr_input'][s]:+.2f})" for s in sigmas]
            print(f"| {r['step']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
