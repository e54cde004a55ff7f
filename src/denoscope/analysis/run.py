"""The analyse stage: every analysis of §2 on one representation, in memory: its numbers (saved as OUT/metrics.json),
its arrays (OUT/NAME.npz), the images that figures will show, and each of the paper's findings judged on them
(findings.py). It writes nothing; StageResult.save does, and report/analysis_figures.py draws the saved folder."""

from __future__ import annotations

import numpy as np

from .. import rng
from ..data import ImageSet, Transform, stack_images
from ..errors import ConfigError
from ..progress import stage_bar
from ..representation import Representation
from ..results import StageResult
from .channels import channel_statistics, correlation
from .clusters import clusters
from .factors import factors
from .findings import findings
from .neighbours import constancy, neighbour_table, neighbours, table_label_agreement
from .probes import probes
from .selectivity import LIVE_FLOOR, selectivity
from .sparsity import sparsity
from .stability import stability
from .subspaces import subspaces

THUMBS = "thumbnails"
BROWSE_K = 8  # neighbours kept for every image, for the explorer
CLUSTERS = 10  # K-means clusters when none are asked for (the paper's)
NEIGHBOURS = 8  # neighbours shown per query


def pixels_of(images: ImageSet, rep: Representation) -> np.ndarray:
    """N×H×W×C float32 images in [0, 1], checked to be the images the representation was extracted from."""
    rep.check_source(images)
    size = rep.manifest.get("image_size")
    x = stack_images(images, np.arange(len(images)), Transform(size=size, mode="center-crop") if size else Transform())
    return x.permute(0, 2, 3, 1).numpy()


def attempt(metrics: dict, arrays: dict, name: str, fn, *args, **kwargs) -> None:
    """Run one analysis; one that this data cannot support (too few images per class, …) is listed, not faked."""
    try:
        metrics[name], arrays[name] = fn(*args, **kwargs)
    except ConfigError as e:
        metrics["not_computed"].append(f"{name}: {e}")


def analyse(rep: Representation, images: ImageSet | None = None, sigma: float = 0.5, ks: tuple[int, ...] | None = None,
            seed: int = 0, queries: int = 8, progress: bool = False, live_floor: float | None = None) -> StageResult:
    """Every analysis whose inputs exist (with `images` also those that compare with pixels or show images), and the
    paper's findings judged on them (metrics["findings"]); one array entry per analysis .npz, and the thumbnails.
    Counts the user did not give (CLUSTERS clusters, NEIGHBOURS neighbours) shrink to a small REP, said in metrics["notes"].
    `live_floor` (None: LIVE_FLOOR): a channel is live when its largest φ reaches this fraction of the typical channel's
    largest φ (selectivity.channel_states); only live channels enter selectivity and the channel statistics."""
    live_floor = LIVE_FLOOR if live_floor is None else live_floor
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ConfigError(f"sigma must be a finite noise level ≥ 0, got {sigma}")
    if not (isinstance(live_floor, (int, float)) and 0 <= live_floor < 1):
        raise ConfigError(f"live_floor must be a fraction in [0, 1), got {live_floor!r}")
    notes = []
    if ks is None:
        ks = (min(CLUSTERS, rep.n),)
        if ks[0] < CLUSTERS:
            notes.append(f"{ks[0]} K-means clusters instead of {CLUSTERS}: the REP holds {rep.n} images")
    with stage_bar("analyse", 6, progress) as update:
        result = _analyse(rep, images, sigma, tuple(ks), seed, queries, update, notes, float(live_floor))
        update(completed=6, status="")
    return result


def _analyse(rep: Representation, images: ImageSet | None, sigma: float, ks: tuple[int, ...], seed: int, queries: int,
             update, notes: list[str], live_floor: float) -> StageResult:
    rep.check_complete()
    update(status="sparsity, stability, selectivity")
    means = {b: np.asarray(rep.means(b)) for b in rep.blocks}
    phi = rep.phi(sigma)
    labels, facts = rep.labels, rep.factors
    metrics: dict = {"rep": None if rep.path is None else str(rep.path), "source": rep.manifest["source"], "images": rep.n,
                     "sigma": float(rep.sigmas[rep.sigma_index(sigma)]), "notes": notes, "not_computed": []}
    arrays: dict[str, dict] = {}
    metrics["sparsity"], arrays["sparsity"] = sparsity(means, rep.sigmas, sigma)
    metrics["stability"], arrays["stability"] = stability(means, rep.sigmas, sigma)
    metrics["constancy"] = constancy(phi)
    metrics["warnings"] = [w for w in (metrics["constancy"]["warning"],) if w]
    metrics["selectivity"], arrays["selectivity"] = selectivity(phi, live_floor=live_floor, seed=seed)
    if "mid" in means:
        for key, name in (("channel_stability_vs_selectivity", "cosine"), ("channel_correlation_vs_selectivity", "correlation")):
            metrics["stability"][key] = correlation(arrays["stability"][f"channel_{name}/mid"], arrays["selectivity"]["channel_pr"])
    update(advance=1, status="channels")
    maps = rep.maps()
    if maps is not None:
        at = rep.manifest["maps"]["sigma"]
        attempt(metrics, arrays, "channels", channel_statistics, rep.phi(at), np.asarray(maps), live_floor=live_floor)
    else:
        metrics["not_computed"].append("channels: the representation kept no activation maps")
    update(advance=1, status="clusters, subspaces")
    metrics["clusters"], arrays["clusters"] = clusters(phi, labels, ks=ks, seed=seed)
    first = arrays["clusters"][f"k{ks[0]}/assignment"]
    attempt(metrics, arrays, "subspaces", subspaces, phi, first)
    if images is None:
        metrics["not_computed"] += ["neighbours, probes, factors: no images given to compare with pixels"]
    else:
        update(advance=1, status="neighbours of every image")
        pixels = pixels_of(images, rep)
        flat = pixels.reshape(len(pixels), -1)
        chosen = rng.choose(rep.n, queries, seed, "queries")
        k = min(NEIGHBOURS, rep.n - 1)
        if k < NEIGHBOURS:
            notes.append(f"{k} neighbours per query instead of {NEIGHBOURS}: the REP holds {rep.n} images")
        metrics["neighbours"], arrays["neighbours"] = neighbours(phi, flat, chosen, k=k, labels=labels)
        if rep.n > 1:
            arrays["neighbour_table"] = neighbour_table(phi, flat, k=min(BROWSE_K, rep.n - 1))
            if labels is not None:
                metrics["neighbours"]["every_image"] = table_label_agreement(arrays["neighbour_table"], labels, seed)
        update(advance=1, status="probes, factors")
        if labels is not None:
            attempt(metrics, arrays, "probes", probes, phi, flat, labels, seed=seed)
        else:
            metrics["not_computed"].append("probes: the source has no labels")
        if facts:
            attempt(metrics, arrays, "factors", factors, phi, flat, facts, seed=seed)
    if not facts:
        metrics["not_computed"].append("factors: the source has no known generating factors (a synthetic: source has)")
    update(completed=5, status="findings")
    metrics["findings"] = findings(metrics)
    saved = {name: {k.replace("/", "__"): np.asarray(v) for k, v in values.items()} for name, values in arrays.items()}
    if images is not None:
        saved[THUMBS] = thumbnails(pixels, metrics, arrays, chosen, ks)
    return StageResult("analyse", metrics, saved)


def thumbnails(pixels: np.ndarray, metrics: dict, arrays: dict, chosen: np.ndarray, ks: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The images the figures and the explorer show (top images of selective channels, queries, neighbours, cluster
    members), as uint8, with their indices."""
    shown = {int(i) for ids in metrics["selectivity"]["top_images"].values() for i in ids}
    shown |= {int(i) for i in np.ravel(arrays["neighbours"]["neighbours"])} | {int(i) for i in np.ravel(arrays["neighbours"]["pixel_neighbours"])}
    shown |= {int(i) for i in chosen} | {int(i) for k in ks for i in np.ravel(arrays["clusters"][f"k{k}/samples"]) if i >= 0}
    index = np.array(sorted(shown))
    return {"index": index, "images": (pixels[index] * 255).round().astype(np.uint8)}
