"""How the live-channel floor moves fig. 3: per floor, live / near-dead / dead channels, the most selective live
channels and how many images reach the live threshold on them, and the selectivity finding (issue 25).

Usage: python benchmarks/live_floor.py REP [OUT.json] [FLOOR ...]   (default floors 0 0.01 0.05 0.1; φ at σ = 0.5)
"""

import json
import sys

import numpy as np

from denoscope.analysis.findings import selectivity_finding, verdict_text
from denoscope.analysis.selectivity import selectivity
from denoscope.representation import Representation


def row(phi: np.ndarray, floor: float) -> dict:
    m, a = selectivity(phi, live_floor=floor)
    f = selectivity_finding({"images": len(phi), "selectivity": m})
    return {"floor": floor, "threshold": m["live_threshold"], "live": m["live_channels"], "near_dead": m["near_dead_channels"],
            "dead": m["dead_channels"], "b": m["selectivity_bimodality"], "below_split": m["selective_fraction"],
            "gmm_means": m["gmm_means"], "dip": m["gmm_dip"], "ashman_d": m["gmm_ashman_d"],
            "top_channels": m["top_channels"], "top_channel_pr": m["top_channel_pr"],
            "top_channel_peak": [float(a["channel_peak"][c]) for c in m["top_channels"]],
            "images_above_threshold": [len(m["top_images"][str(c)]) for c in m["top_channels"]],
            "verdict": verdict_text(f), "stricter": verdict_text(f["stricter"])}


def main(rep: str, out: str | None, floors: list[float]) -> None:
    r = Representation(rep)
    phi = np.asarray(r.phi(0.5), dtype=np.float64)
    rows = [row(phi, floor) for floor in floors]
    print("| floor | threshold φ | live | near-dead | dead | b | below split | mixture means | dip | fig. 3 verdict (stricter) | top channels: PR, peak φ, images ≥ threshold |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for x in rows:
        tops = "; ".join(f"{c}: {p:.3f}, {k:.2g}, {n}" for c, p, k, n in zip(x["top_channels"], x["top_channel_pr"], x["top_channel_peak"],
                                                                             x["images_above_threshold"]))
        print(f"| {x['floor']:g} | {x['threshold']:.3g} | {x['live']} | {x['near_dead']} | {x['dead']} | {x['b']:.3f} | {x['below_split']:.0%} | "
              f"{x['gmm_means'][0]:.2f}, {x['gmm_means'][1]:.2f} | {x['dip']:.2f} | {x['verdict']} ({x['stricter']}) | {tops} |")
    if out:
        with open(out, "w") as f:
            json.dump({"rep": rep, "images": r.n, "sigma": float(r.sigmas[r.sigma_index(0.5)]), "floors": rows}, f, indent=1)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1] if len(args) > 1 else None, [float(x) for x in args[2:]] or [0.0, 0.01, 0.05, 0.1])
