"""Fig. 3 on subsets of one REP: does the image count or the live floor decide whether the channels' PRs are bimodal?

Usage: python benchmarks/selectivity_subsets.py REP SIGMA [--test-from 26000]
Prints one JSON line per (subset, live floor): Sarle's b, the mixture's means and dip, live / near-dead / dead counts.
Subsets: all images, two random 1 000 (subset seeds 0 and 1), and with --test-from the seeded 1 000 of the images
from that index on (issue 21's choice of test.tar's images when the REP is train.tar+test.tar).
"""

import argparse
import json

from denoscope import rng
from denoscope.analysis.selectivity import selectivity
from denoscope.representation import Representation

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("rep")
p.add_argument("sigma", type=float)
p.add_argument("--test-from", type=int)
args = p.parse_args()
phi = Representation(args.rep).phi(args.sigma)
subsets = {"all": slice(None), **{f"1000 random, seed {s}": rng.choose(len(phi), 1000, s, "subset") for s in (0, 1)}}
if args.test_from is not None:
    subsets["1000 of the test part, seed 0"] = args.test_from + rng.choose(len(phi) - args.test_from, 1000, 0, "subset")
for name, idx in subsets.items():
    for floor in (0.05, 0.0):
        s = selectivity(phi[idx], live_floor=floor)[0]
        print(json.dumps({"subset": name, "images": len(phi[idx]), "live_floor": floor, "b": round(s["selectivity_bimodality"], 3),
                          "means": [round(v, 2) for v in s["gmm_means"]], "dip": round(s["gmm_dip"], 2) if s.get("gmm_dip") is not None else None,
                          "live": s["live_channels"], "near_dead": s["near_dead_channels"], "dead": s["dead_channels"]}))
