"""kNN and linear-probe accuracy from φ at each extracted σ, beside the same from pixels.

Usage: python benchmarks/probe_sigma.py REP SOURCE [MAX_IMAGES] [SEED]   (MAX_IMAGES/SEED as given to `represent`)
"""

import sys

from denoscope.analysis.probes import probes
from denoscope.analysis.run import pixels_of
from denoscope.data import open_source
from denoscope.representation import Representation


def main() -> None:
    rep = Representation(sys.argv[1])
    images = open_source(sys.argv[2])
    if len(sys.argv) > 3:
        images = images.subset(int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    pixels = pixels_of(images, rep).reshape(rep.n, -1)
    print("| σ | kNN φ | kNN pixels | linear φ | linear pixels |\n|---|---|---|---|---|")
    for sigma in rep.sigmas[1:]:
        m, _ = probes(rep.phi(sigma), pixels, rep.labels, seed=0)
        print(f"| {sigma:.3f} | {m['knn_accuracy']:.3f} | {m['pixel_knn_accuracy']:.3f} | {m['linear_probe_accuracy']:.3f} | {m['pixel_linear_probe_accuracy']:.3f} |")


if __name__ == "__main__":
    main()
