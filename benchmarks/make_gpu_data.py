"""A CIFAR-10 uint8 .npz small enough to travel with a checkout to a GPU machine (≤ 64 MiB carried in all):
a seeded choice of `per_class` training images of each class, with their labels, for benchmarks/gpu.sh.

Usage: python benchmarks/make_gpu_data.py [--source ../shared/data/cifar10/train.tar] [--per-class 1900]
                                          [--out runs/gpu-data/cifar10-19000.npz]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from denoscope.data import open_source

ROOT = Path(__file__).resolve().parents[1]


def choose(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """`per_class` indices of every label, drawn without replacement, in ascending order."""
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in np.unique(labels)]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default=str(ROOT / "../shared/data/cifar10/train.tar"))
    p.add_argument("--per-class", type=int, default=1900)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "runs/gpu-data/cifar10-19000.npz")
    args = p.parse_args()
    images = open_source(args.source)
    chosen = choose(np.asarray(images.labels), args.per_class, args.seed)
    array = np.stack([images[int(i)] for i in chosen])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=array, labels=np.asarray(images.labels)[chosen])
    print(f"{args.out}: {array.shape} uint8, {args.out.stat().st_size / 2**20:.1f} MiB, classes {images.class_names}")


if __name__ == "__main__":
    main()
