"""The analyse stage: every analysis of §2 on one REP/, numbers into OUT/metrics.json, arrays into OUT/NAME.npz,
the images that figures will show copied beside them, and each of the paper's findings judged on them (findings.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import ImageSet, Transform, stack_images
from ..errors import ConfigError, DataError
from ..io import OUT_METRICS, write_json, write_npz
from ..progress import stage_bar
from ..represent import Representation
from .channels import channel_statistics, correlation
from .clusters import clusters
from .factors import factors
from .findings import findings
from .neighbours import neighbour_table, neighbours, table_label_agreement
from .probes import probes
from .selectivity import selectivity
from .sparsity import sparsity
from .stability import stability
from .subspaces import subspaces

THUMBS = "thumbnails.npz"
BROWSE_K = 8  # neighbours kept for every image, for the explorer


def pixels_of(images: ImageSet, rep: Representation) -> np.ndarray:
    """N×H×W×C float32 images in [0, 1], checked to be the images the representation was extracted from."""
    if len(images) != rep.n:
        raise DataError(f"{images.name} holds {len(images)} images but {rep.path} was extracted from {rep.n} ({rep.manifest['source']})")
    size = rep.manifest.get("image_size")
    x = stack_images(images, np.arange(len(images)), Transform(size=size, mode="center-crop") if size else Transform())
    return x.permute(0, 2, 3, 1).numpy()


def attempt(metrics: dict, arrays: dict, name: str, fn, *args, **kwargs) -> None:
    """Run one analysis; one that this data cannot support (too few images per class, …) is listed, not faked."""
    try:
        metrics[name], arrays[name] = fn(*args, **kwargs)
    except ConfigError as e:
        metrics["not_computed"].append(f"{name}: {e}")


def analyse(rep: Representation, out: str | Path, images: ImageSet | None = None, sigma: float = 0.5,
            ks: tuple[int, ...] = (10,), seed: int = 0, queries: int = 8, progress: bool = False) -> dict:
    """Run every analysis whose inputs exist; with `images` also those that compare with pixels or show images."""
    with stage_bar("analyse", 6, progress) as update:
        return _analyse(rep, Path(out), images, sigma, ks, seed, queries, update)


def _analyse(rep: Representation, out: Path, images: ImageSet | None, sigma: float, ks: tuple[int, ...], seed: int, queries: int,
             update) -> dict:
    rep.check_complete()
    update(status="sparsity, stability, selectivity")
    means = {b: np.asarray(rep.means(b)) for b in rep.blocks}
    phi = rep.phi(sigma)
    labels, facts = rep.labels, rep.factors
    metrics: dict = {"rep": str(rep.path), "source": rep.manifest["source"], "images": rep.n,
                     "sigma": float(rep.sigmas[rep.sigma_index(sigma)]), "not_computed": []}
    arrays: dict[str, dict] = {}
    metrics["sparsity"], arrays["sparsity"] = sparsity(means, rep.sigmas, sigma)
    metrics["stability"], arrays["stability"] = stability(means, rep.sigmas, sigma)
    metrics["selectivity"], arrays["selectivity"] = selectivity(phi)
    if "mid" in means:
        for key, name in (("channel_stability_vs_selectivity", "cosine"), ("channel_correlation_vs_selectivity", "correlation")):
            metrics["stability"][key] = correlation(arrays["stability"][f"channel_{name}/mid"], arrays["selectivity"]["channel_pr"])
    update(advance=1, status="channels")
    maps = rep.maps()
    if maps is not None:
        at = rep.manifest["maps"]["sigma"]
        attempt(metrics, arrays, "channels", channel_statistics, rep.phi(at)[: len(maps)], np.asarray(maps))
    else:
        metrics["not_computed"].append("channels: the representation kept no activation maps")
    update(advance=1, status="clusters, subspaces")
    metrics["clusters"], arrays["clusters"] = clusters(phi, labels, ks=ks, seed=seed)
    first = arrays["clusters"][f"k{ks[0]}/assignment"]
    attempt(metrics, arrays, "subspaces", subspaces, phi, first)
    thumbs: dict[str, np.ndarray] = {}
    if images is None:
        metrics["not_computed"] += ["neighbours, probes, factors: no images given to compare with pixels"]
    else:
        update(advance=1, status="neighbours of every image")
        pixels = pixels_of(images, rep)
        flat = pixels.reshape(len(pixels), -1)
        chosen = np.sort(np.random.default_rng(seed).permutation(rep.n)[:queries])
        metrics["neighbours"], arrays["neighbours"] = neighbours(phi, flat, chosen, k=8, labels=labels)
        if rep.n > 1:
            arrays["neighbour_table"] = neighbour_table(phi, flat, k=min(BROWSE_K, rep.n - 1))
            if labels is not None:
                metrics["neighbours"]["every_image"] = table_label_agreement(arrays["neighbour_table"], labels, seed)
        update(advance=1, status="probes, factors")
        if labels is not None:
            attempt(metrics, arrays, "probes", probes, phi, flat, labels, random_state=seed)
        else:
            metrics["not_computed"].append("probes: the source has no labels")
        if facts:
            attempt(metrics, arrays, "factors", factors, phi, flat, facts, random_state=seed)
        shown = {int(i) for ids in metrics["selectivity"]["top_images"].values() for i in ids}
        shown |= {int(i) for i in np.ravel(arrays["neighbours"]["neighbours"])} | {int(i) for i in np.ravel(arrays["neighbours"]["pixel_neighbours"])}
        shown |= {int(i) for i in chosen} | {int(i) for k in ks for i in np.ravel(arrays["clusters"][f"k{k}/samples"]) if i >= 0}
        index = np.array(sorted(shown))
        thumbs = {"index": index, "images": (pixels[index] * 255).round().astype(np.uint8)}
    if not facts:
        metrics["not_computed"].append("factors: the source has no known generating factors (a synthetic: source has)")
    update(completed=5, status="writing")
    metrics["findings"] = findings(metrics)
    for name, values in arrays.items():
        write_npz(out / f"{name}.npz", **{k.replace("/", "__"): np.asarray(v) for k, v in values.items()})
    if thumbs:
        write_npz(out / THUMBS, **thumbs)
    write_json(out / OUT_METRICS, metrics)
    update(completed=6, status="")
    return metrics
