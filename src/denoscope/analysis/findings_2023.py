"""The 2023 paper's findings (Kadkhodaie, Guth, Simoncelli & Mallat 2023, "Generalization in diffusion models arises
from geometry-adaptive harmonic representations") judged from a saved `jacobian` or `generalize` folder's metrics.json:
records of the same shape as analysis/findings.py's, so the report's glance table shows them beside the 2025 paper's."""

from __future__ import annotations

import numpy as np

from .findings import f1, f3, finding, part, too_few

PAPER = "Kadkhodaie et al. 2023"
SYMMETRIC, SYMMETRIC_STRICT = 0.1, 0.01  # ‖J − Jᵀ‖/‖J‖ below this: symmetric
SHRINK_SLACK, SHRINK_SLACK_STRICT = 0.05, 0.01  # eigenvalues of (J + Jᵀ)/2 within [0 − slack, 1 + slack]: a shrinkage
HOMOGENEOUS, HOMOGENEOUS_STRICT = 1e-2, 1e-5  # ‖D(y) − J·y‖/‖D(y)‖ below this: D(y) = ∇D(y)·y
COPIES_SMALL_N = 0.5  # at the smallest N, at least this share of samples are copies of a training image
COPIES_LARGE_N = 0.1  # at the largest N, at most this share
GAP_LARGE_N = 0.5  # stricter: train − held-out PSNR gap (dB) at the largest N below this at every σ
MIN_PAIRS = 3  # pairs of samples (same start, a and b) that both converged, needed at a size before its samples are judged


def per_sigma(m: dict) -> list[dict]:
    """The jacobian stage's per-σ entries, by increasing σ."""
    return sorted(m["per_sigma"], key=lambda s: s["sigma"])


def shrinkage_parts(m: dict, asymmetry: float, slack: float) -> list[dict]:
    """Per σ: J symmetric (relative asymmetry below `asymmetry`) and its eigenvalues within [−slack, 1 + slack]."""
    parts = []
    for s in per_sigma(m):
        lo, hi = s["eigenvalue_range"]
        parts.append(part(f"σ = {s['sigma']:g}: J symmetric (‖J − Jᵀ‖/‖J‖ < {asymmetry:g})", f"σ = {s['sigma']:g}: asymmetry {s['asymmetry']:.3f}",
                          s["asymmetry"] < asymmetry))
        parts.append(part(f"σ = {s['sigma']:g}: eigenvalues in [0, 1] (± {slack:g})", f"σ = {s['sigma']:g}: eigenvalues [{lo:.3f}, {hi:.3f}]",
                          lo >= -slack and hi <= 1 + slack))
    return parts


def shrinkage_finding(m: dict) -> dict:
    """The Jacobian is symmetric with eigenvalues in [0, 1]: a shrinkage in an orthonormal basis adapted to the image."""
    return finding(
        f"{PAPER}, adaptive basis",
        "“the inductive biases give rise to a shrinkage operation in a basis adapted to the underlying image” (abstract): "
        "∇D(y) symmetric, its eigenvalues (the shrinkage factors) in [0, 1].",
        "at one image, per σ: ‖J − Jᵀ‖/‖J‖ of the exact Jacobian and the range of the eigenvalues of (J + Jᵀ)/2",
        shrinkage_parts(m, SYMMETRIC, SHRINK_SLACK),
        f"the same within tighter tolerances (asymmetry < {SYMMETRIC_STRICT:g}, eigenvalues within ± {SHRINK_SLACK_STRICT:g} of [0, 1])",
        shrinkage_parts(m, SYMMETRIC_STRICT, SHRINK_SLACK_STRICT),
        too_few(len(m["per_sigma"]), 1, "noise levels"))


def homogeneity_parts(m: dict, tolerance: float) -> list[dict]:
    return [part(f"σ = {s['sigma']:g}: ‖D(y) − J·y‖/‖D(y)‖ < {tolerance:g}", f"σ = {s['sigma']:g}: {s['homogeneity']:.2g}",
                 s["homogeneity"] < tolerance) for s in per_sigma(m)]


def homogeneity_finding(m: dict) -> dict:
    """A bias-free denoiser is locally linear: D(y) = ∇D(y)·y (a network with biases need not be)."""
    return finding(
        f"{PAPER}, local linearity",
        "For a bias-free denoiser (no additive constants), D(y) = ∇D(y)·y: the denoiser acts as the adaptive linear map "
        "∇D(y) applied to its input (paraphrased; the paper's text is not in papers/).",
        "at one image, per σ: ‖D(y) − J·y‖/‖D(y)‖ with J the exact Jacobian (0 for a bias-free net, up to rounding)",
        homogeneity_parts(m, HOMOGENEOUS),
        f"to float32 rounding: below {HOMOGENEOUS_STRICT:g} at every σ", homogeneity_parts(m, HOMOGENEOUS_STRICT),
        too_few(len(m["per_sigma"]), 1, "noise levels"))


def trace_finding(m: dict) -> dict:
    """The effective dimensionality tr ∇D(y) falls as σ grows (the denoiser shrinks onto fewer directions)."""
    levels = per_sigma(m)
    sigmas, trace = [s["sigma"] for s in levels], [s["trace"] for s in levels]
    shown = " → ".join(f"{t:.1f}" for t in trace)
    return finding(
        f"{PAPER}, effective dimensionality",
        "The trace of the Jacobian, the denoiser's effective dimensionality, falls as the noise level σ grows "
        "(paraphrased; the paper's text is not in papers/).",
        f"tr J at one image for σ = {', '.join(f'{s:g}' for s in sigmas)}",
        [part("tr J at the largest σ below tr J at the smallest", f"tr J {shown}", len(trace) > 1 and trace[-1] < trace[0])],
        "tr J falls between every two consecutive σ",
        [part("tr J falls at every step", f"steps {', '.join(f'{b - a:+.1f}' for a, b in zip(trace, trace[1:]))}",
              len(trace) > 1 and bool(np.all(np.diff(trace) < 0)))],
        too_few(len(trace), 2, "noise levels"))


def jacobian_findings(m: dict) -> dict:
    """Every 2023 claim a jacobian folder's metrics allow, by name."""
    return {"shrinkage": shrinkage_finding(m), "homogeneity": homogeneity_finding(m), "trace": trace_finding(m)}


def converged(size: dict) -> int:
    """Both models' samples whose reverse diffusion converged (folders written before this was counted: all)."""
    return sum(sum(sample_converged(v)) for v in size["models"].values())


def sample_converged(model: dict) -> list[bool]:
    """Per sample of one model: did its reverse diffusion converge (all, for folders that did not record it)."""
    status = model.get("sampling", {}).get("status")
    return [True] * len(model["own"]["cosine"]) if status is None else [st == "converged" for st in status]


def converged_median(size: dict, key: str) -> float | None:
    """The median over both models' converged samples of their cosine or PSNR to the nearest image of their own set."""
    values = [c for v in size["models"].values() for c, ok in zip(v["own"][key], sample_converged(v)) if ok]
    return float(np.median(values)) if values else None


def share(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:.0%}"


def copy_share(size: dict) -> float:
    """The share of both models' converged samples that copy an image of their own training set."""
    count = converged(size)
    return sum(v["memorised"] for v in size["models"].values()) / count if count else float("nan")


def unconverged(sizes: list[dict]) -> str | None:
    """Why the samples of the smallest or largest N cannot be judged: too few pairs of them converged."""
    pairs = {s["n"]: s["pair"].get("both_converged", len(s["pair"]["cosine"])) for s in sizes}
    short = [f"N = {n}: {k}" for n, k in pairs.items() if k < MIN_PAIRS]
    return f"sample pairs where both models' reverse diffusion converged {', '.join(short)}, fewer than {MIN_PAIRS}" if short else None


def generalize_finding(m: dict) -> dict:
    """Memorisation at small N, generalisation at large N: two models on disjoint sets give nearly the same sample,
    far from any training image."""
    sizes = sorted(m["sizes"], key=lambda s: s["n"])
    small, large = sizes[0], sizes[-1]
    pair_small, pair_large = small["pair"]["cosine_median"], large["pair"]["cosine_median"]
    own_large, own_psnr_large = (converged_median(large, key) for key in ("cosine", "psnr"))
    pair_psnr_large = large["pair"].get("psnr_median")
    gaps = {sigma: float(np.mean([v["denoising"][sigma]["gap"] for v in large["models"].values()]))
            for sigma in large["models"]["a"]["denoising"]}
    parts = [
        part(f"N = {small['n']}: samples copy training images (≥ {COPIES_SMALL_N:.0%})", f"N = {small['n']}: {share(copy_share(small))} copies",
             copy_share(small) >= COPIES_SMALL_N),
        part(f"N = {large['n']}: samples distinct from the training set (≤ {COPIES_LARGE_N:.0%} copies)",
             f"N = {large['n']}: {share(copy_share(large))} copies", copy_share(large) <= COPIES_LARGE_N),
        part(f"the two models' samples closer at N = {large['n']} than at N = {small['n']}",
             f"a vs b median cosine {f3(pair_small)} (N = {small['n']}) → {f3(pair_large)} (N = {large['n']})",
             None if pair_small is None or pair_large is None else pair_large > pair_small),
    ]
    strict = [
        part(f"N = {large['n']}: a and b closer to each other than to their nearest training image",
             f"a vs b {f3(pair_large)} vs sample to nearest training image {f3(own_large)} (median cosines of converged samples)",
             None if pair_large is None or own_large is None else pair_large > own_large),
        part(f"N = {large['n']}: the same in PSNR, which the images' mean brightness does not dominate",
             f"a vs b {f1(pair_psnr_large)} dB vs sample to nearest training image {f1(own_psnr_large)} dB (medians of converged samples)",
             None if pair_psnr_large is None or own_psnr_large is None else pair_psnr_large > own_psnr_large),
        part(f"N = {large['n']}: train − held-out PSNR gap below {GAP_LARGE_N:g} dB at every σ",
             "gap " + ", ".join(f"σ = {s}: {g:+.2f} dB" for s, g in gaps.items()), all(g < GAP_LARGE_N for g in gaps.values())),
    ]
    return finding(
        f"{PAPER}, memorisation → generalisation",
        "“two DNNs trained on non-overlapping subsets of a dataset learn nearly the same score function, and thus the same "
        "density, when the number of training images is large enough. In this regime of strong generalization, "
        "diffusion-generated images are distinct from the training set” (abstract); at small N each model memorises its set.",
        f"per training-set size N, two models on disjoint sets sampled from the same start and noise: the median cosine "
        f"between their samples, and the share of samples that copy an image of their own set ({m['copy_rule']})",
        parts, "generalisation in the strong sense: at the largest N the two models agree more than either agrees with its "
               "training set, and the denoiser is as good on held-out images as on its own", strict,
        too_few(len(sizes), 2, "training-set sizes") or unconverged([small, large]))
