"""The paper's findings as the paper states them: figure, its words, the statistic, our numbers and a verdict, with a
stricter check of ours beside it (never instead). Each finding is built from saved numbers by one small function."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from .clusters import SEPARATED_STD
from .selectivity import SARLE_THRESHOLD
from .sparsity import feature_blocks
from .stability import stability_ranking

HOLDS, PARTLY, FAILS, TOO_FEW, TIE = "holds", "partly", "does not hold", "too few images to tell", "too close to tell"
MID_PR_RANGE = (0.2, 0.3)  # §2.5: "dimensionality lies approximately in the range [0.2d, 0.3d] (from Figure 1)"
MOST_IMAGES = 0.75  # stricter fig. 1: a "substantial"/"stark" change moves at least this fraction of the images
STRICT_P = 0.01  # stricter fig. 13 and eq. 3: a rank correlation must also be significant at this level
NULL_MARGIN = 1.25  # stricter fig. 6: φ's clusters must be this much more separated than channel-shuffled φ's
PAPER_B_OVER_A = 2.9  # §3: "satisfy the Euclidean embedding inequality (3) with B/A = 2.9"
STRONG_CORRELATION = 0.5  # fig. 8 right / 14 right: ‖Δφ‖² "strongly related" to the symmetrised KL
SIGMA_KEPT = 0.05  # fig. 20: σ̂ unchanged by matching, to within this relative change
SIGMA_CORRELATION = 0.95
MIN_IMAGES = 20  # fewer images than this: a distribution over images is not told
MIN_CHANNELS = 10
MIN_PAIRS = 5
MIN_MODE_SHARE = 0.10  # fig. 3: each of the two modes holds at least this share of the live channels
MAX_DIP = 0.8  # fig. 3: between two modes the fitted density falls to at most this fraction of the lower peak
SHOWN = 0.5e-4  # half a unit of the 4th decimal that stability cosines are shown with: a smaller difference is a tie
TIE_SE = 2.0  # a difference within this many standard errors (over images, paired) is a tie


def part(claim: str, ours: str, holds: bool | None) -> dict:
    """One checkable piece of a finding: what is claimed, our numbers, and whether they bear it out (None: too close to
    tell, a tie within the noise of the estimate or the precision shown)."""
    return {"claim": claim, "ours": ours, "holds": None if holds is None else bool(holds)}


def judged(parts: list[dict], too_few: str | None = None, undecided: tuple[str, str] | None = None) -> dict:
    """The verdict over parts: all hold, some (k of n: partly), none; too few images to tell when `too_few` says why;
    when no part is decided either way, `undecided` (verdict, why), by default a tie. `reason` says why in one line."""
    k, n = sum(p["holds"] is True for p in parts), len(parts)
    failed = any(p["holds"] is False for p in parts)
    why = too_few
    if too_few:
        verdict = TOO_FEW
    elif k == n:
        verdict = HOLDS
    elif k == 0 and not failed:
        verdict, why = undecided or (TIE, "every comparison within its noise")
    else:
        verdict = FAILS if k == 0 else PARTLY
    return {"parts": parts, "k": k, "n": n, "verdict": verdict, "why": why, "reason": reason(parts, verdict, why),
            "ours": "; ".join(p["ours"] for p in parts)}


def reason(parts: list[dict], verdict: str, why: str | None) -> str:
    """One line: why the verdict is what it is (the parts that fail or tie, with their numbers; or that all hold)."""
    if verdict in (TOO_FEW, TIE):
        return f"{verdict}: {why}"
    said = [f"{label}: " + "; ".join(f"{p['claim']} ({p['ours']})" for p in parts if p["holds"] is state)
            for state, label in ((False, "not borne out"), (None, "too close to tell")) if any(p["holds"] is state for p in parts)]
    return " — ".join(said) or "borne out: " + "; ".join(p["claim"] for p in parts)


def verdict_text(j: dict) -> str:
    """'holds', 'partly (k of n[, t too close to tell])', 'does not hold', or 'too few images to tell (why)'."""
    if j["verdict"] == PARTLY:
        tied = sum(p["holds"] is None for p in j.get("parts", []))
        return f"partly ({j['k']} of {j['n']}" + (f"; {tied} too close to tell" if tied else "") + ")"
    return f"{j['verdict']} ({j['why']})" if j["verdict"] in (TOO_FEW, TIE) else j["verdict"]


def finding(figure: str, statement: str, statistic: str, parts: list[dict], check: str, check_parts: list[dict],
            too_few: str | None = None, undecided: tuple[str, str] | None = None) -> dict:
    """A finding record: the paper's figure, words and statistic, our judged parts, and our stricter check judged apart."""
    return {"figure": figure, "statement": statement, "statistic": statistic, **judged(parts, too_few, undecided),
            "stricter": {"check": check, **judged(check_parts, too_few, undecided)}}


def too_few(count: int, minimum: int, what: str) -> str | None:
    """Why a finding cannot be told from `count` items, or None when there are enough."""
    return f"{count} {what}, fewer than {minimum}" if count < minimum else None


def defined(x: float | None) -> bool:
    """A number that was measured: not None (a NaN saved to metrics.json comes back as null) and finite."""
    return x is not None and bool(np.isfinite(x))


def f3(x: float) -> str:
    return f"{x:.3f}" if defined(x) else "–"


def g2(x: float | None) -> str:
    return f"{x:.2g}" if defined(x) else "–"


def f1(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def sparsity_finding(m: dict) -> dict | None:
    """Fig. 1: encoder blocks' outputs denser than their inputs, middle and decoder blocks' sparser; φ's PR in [0.2, 0.3]."""
    s = m["sparsity"]
    pr, rises = s["pr_median"], s.get("pr_rises", {})
    blocks = [b for b in feature_blocks(pr) if f"{b}.in" in pr]
    if not blocks:
        return None
    parts, strict = [], []
    for b in blocks:
        up = b.startswith("enc")
        word = "denser (PR up)" if up else "sparser (PR down)"
        moved = pr[b] > pr[f"{b}.in"] if up else pr[b] < pr[f"{b}.in"]
        parts.append(part(f"{b}: output {word} than input", f"{b} {f3(pr[f'{b}.in'])} → {f3(pr[b])}", moved))
        share = rises.get(b, float("nan")) if up else 1 - rises.get(b, float("nan"))
        strict.append(part(f"{b}: at least {MOST_IMAGES:.0%} of images {word}", f"{b} {share:.0%} of images", share >= MOST_IMAGES))
    lo, hi = MID_PR_RANGE
    if "mid" in pr:
        parts.append(part(f"mid: median output PR within [{lo}, {hi}]", f"mid output {f3(pr['mid'])}", lo <= pr["mid"] <= hi))
        q1, q3 = s["pr_quartiles"]["mid"]
        strict.append(part(f"mid: the middle half of images within [{lo}, {hi}]", f"mid quartiles {f3(q1)}–{f3(q3)}", lo <= q1 and q3 <= hi))
    return finding(
        "Fig. 1 (§2.2, §2.5)",
        "“Both encoding blocks offer a substantial decrease in sparsity of ā, but we observe a stark increase of sparsity "
        "in the middle and decoding blocks” (§2.2); the φ's subspaces have a “dimensionality [that] lies approximately in "
        "the range [0.2d, 0.3d] (from Figure 1)” (§2.5).",
        f"median over images of PR(ā) = ‖ā‖₁²/(d‖ā‖₂²) at each block's input and output, σ = {s['sigma']:.2f}",
        parts, f"the change moves at least {MOST_IMAGES:.0%} of the images (paired, per image); the middle block's "
               f"quartiles, not only its median, within [{lo}, {hi}]", strict,
        too_few(m["images"], MIN_IMAGES, "images"))


def ranking(scores: dict[str, float]) -> str:
    """Blocks from most to least stable (stability_ranking, as most_stable_block), each with its margin below the first."""
    order = stability_ranking(scores)
    top = scores[order[0]]
    return " > ".join(f"{b} {scores[b]:.4f}" + ("" if b == order[0] else f" ({scores[b] - top:+.4f})") for b in order)


def tie_width(se: float | None) -> float:
    """How far apart two stabilities must be to differ: the precision shown, or TIE_SE paired standard errors if wider."""
    return max(SHOWN, TIE_SE * se) if defined(se) else SHOWN


def stability_parts(scores: dict[str, float], blocks: list[str], what: str, se: dict[str, float] | None) -> list[dict]:
    """One part per rival block: mid's averaged cosine above the rival's, with the margin; a tie within the noise is neither."""
    parts = []
    for b in (b for b in blocks if b != "mid"):
        diff, width = scores["mid"] - scores[b], tie_width((se or {}).get(b))
        tie = abs(diff) < width
        parts.append(part(f"mid {what} more stable than {b}",
                          f"mid {scores['mid']:.4f} vs {b} {scores[b]:.4f} ({diff:+.4f}{f', a tie: within ±{width:.4f}' if tie else ''})",
                          None if tie else diff > 0))
    return parts


def stability_finding(m: dict) -> dict | None:
    """Fig. 2: the middle block's ā keeps its direction across σ better than any other block's (E2 … D2)."""
    s = m["stability"]
    raw, cen, other = s["stability"], s["centred_stability"], s["other_image_cosine"]
    blocks = [b for b in feature_blocks(raw) if defined(raw[b])]
    if "mid" not in blocks or len(blocks) < 2:
        return None
    levels = s["sigma_levels"]
    spread = f"σ₂ ∈ {{{', '.join(f'{v:.2f}' for v in levels)}}}" if levels else "no σ₂"
    record = finding(
        "Fig. 2 (§2.3)",
        "“ā is most stable in the middle block (M)”; “increased noise level mostly increases the amplitude but not "
        "the direction of ā_j” (§2.3).",
        f"cosine of ā(x, σ₁ = {s['sigma_ref']:.2f}) and ā(x, σ₂), averaged over images and over {spread} "
        "(σ₂ → 0 left out: there ā collapses; σ₂ = σ₁ left out); a difference below the 4th decimal shown or within "
        f"{TIE_SE:g} standard errors over images (paired) is a tie, neither for nor against",
        stability_parts(raw, blocks, "(raw cosine)", s.get("difference_se")),
        "the same ranking with the centred cosine (each σ's mean ā over images subtracted first), so that channels "
        "common to every image cannot make it high; beside it, the raw cosine between different images",
        stability_parts(cen, blocks, "(centred cosine)", s.get("centred_difference_se")),
        too_few(m["images"], MIN_IMAGES, "images") or too_few(len(levels), 2, "noise levels σ₂"))
    record["ours"] += f". Ranking: {ranking(raw)}"
    record["stricter"]["ours"] += (f". Ranking: {ranking({b: cen[b] for b in blocks})}. Raw cosine of one image's ā with another "
                                   "image's: " + ", ".join(f"{b} {other[b]:.4f}" for b in blocks))
    return record


def selectivity_finding(m: dict) -> dict:
    """Fig. 3: the live channels' selectivity (PR across images) is bimodal — as the histogram shows it: two populated
    modes, not one bar or one hump with a skewed tail (which alone can push Sarle's b above 5/9)."""
    s = m["selectivity"]
    live = s.get("live_channels", 0)
    b = s["selectivity_bimodality"]
    delta = s["gmm_bic_one"] - s["gmm_bic_two"]
    below = s["selective_fraction"]
    low, high = s["gmm_means"]
    dip = s.get("gmm_dip")
    two_modes = b > SARLE_THRESHOLD and min(below, 1 - below) >= MIN_MODE_SHARE and (dip is None or dip <= MAX_DIP)
    valley = ("–" if dip is None else "one peak" if dip == 1 else f"a valley at {dip:.0%} of the lower peak")
    left_out = f"{s.get('near_dead_channels', 0)} near-dead and {s['dead_channels']} dead left out"
    bimodal = part("channel PRs bimodal: two populated modes",
                   f"b = {b:.3f}; {below:.0%} of {live} live channels below the split at PR {s['gmm_split']:.2f}, {1 - below:.0%} above; "
                   f"mixture means at PR {low:.2f} and {high:.2f}, its density with {valley} ({left_out})", two_modes)
    return finding(
        "Fig. 3 (§2.4)",
        "“The distribution is bimodal. Channels fall roughly into one of the two categories: selective channels that respond "
        "only to a small fraction of images in the set, and non selective channels that respond to many images.”",
        "PR of each live channel's values across images, ‖c(i)‖₁²/(n‖c(i)‖₂²) (the histogram; dead and near-dead channels "
        f"are not selective); bimodal when Sarle's b > 5/9 and the two-component mixture's modes, read off the same PRs, "
        f"are both populated (each side of its split at least {MIN_MODE_SHARE:.0%} of the live channels) and the mixture's "
        f"fitted density, drawn over the histogram, falls between its two peaks to at most {MAX_DIP:.0%} of the lower one "
        "(two components can fit one skewed hump, with no valley)",
        [bimodal],
        "beside the same two populated modes, a two-component Gaussian mixture beats one by BIC (ΔBIC > 10) and its "
        "modes separate (Ashman's D > 2)",
        [bimodal, part("two components beat one", f"ΔBIC {delta:.1f}", delta > 10),
         part("the modes separate", f"Ashman's D {s['gmm_ashman_d']:.2f}", s["gmm_ashman_d"] > 2)],
        too_few(m["images"], 50, "images") or too_few(live, MIN_CHANNELS, "live channels"))


CHANNEL_CLAIMS = (
    # (where the correlation is saved, its key, the property, the claim, the sign of ρ with channel PR that bears it out, and the key of
    # the stricter check's correlation: the same one, or for stability the correlation over images instead of the cosine,
    # since a channel about as large on every image keeps a raw cosine near 1 whatever the noise does)
    ("channels", "kurtosis_vs_selectivity", "kurtosis", "specialised channels heavier-tailed (excess kurtosis falls with PR)", -1, None),
    ("channels", "spatial_sparsity_vs_selectivity", "spatial PR", "specialised channels spatially sparser (spatial PR rises with PR)", 1, None),
    ("channels", "components_vs_selectivity", "PCA components", "specialised channels in fewer PCA directions (components rise with PR)", 1, None),
    ("stability", "channel_stability_vs_selectivity", "stability over σ", "common channels the most stable over σ (stability rises with PR)", 1,
     "channel_correlation_vs_selectivity"),
)


def signed(rho: float | None, sign: int) -> bool | None:
    """Whether ρ has the claimed sign; None when it is undefined (too few channels with the statistic, or a constant one)."""
    return sign * rho > 0 if defined(rho) else None


def channels_finding(m: dict) -> dict | None:
    """Fig. 13: what selectivity predicts — heavy tails, spatial sparsity, few PCA directions, stability over σ."""
    found = [(m[where][key], m[where].get(strict or key), name, claim, sign, strict)
             for where, key, name, claim, sign, strict in CHANNEL_CLAIMS if key in m.get(where, {})]
    if not found:
        return None
    parts = [part(claim, f"{name} ρ = {f3(c['spearman'])} ({c['channels']} channels)", signed(c["spearman"], sign))
             for c, _, name, claim, sign, _ in found]
    strict = [part(claim + (" (correlation over images)" if other else ""),
                   f"{name}{' by correlation: ρ = ' + f3(s['spearman']) + ',' if other else ''} p = {g2(s['spearman_p'])}",
                   signed(s["spearman"], sign) and s["spearman_p"] < STRICT_P)
              for _, s, name, claim, sign, other in found if s is not None]
    return finding(
        "Fig. 13 (§2.4)",
        "“The marginal distribution of ϕ values in specialized channels is heavy-tailed, but common channels are closer to "
        "Gaussian. Specialized channels are spatially sparse while common channels are spatially denser. […] PCA analysis on "
        "activation maps of specialized channels shows that they are highly concentrated in a few directions […] less "
        "selective channels […] are the most stable w.r.t to noise level.”",
        "Spearman ρ, over live channels, of each property against the channel's PR across images (low PR = specialised)",
        parts, f"each rank correlation also significant (p < {STRICT_P}); stability over σ measured by the correlation "
               "over images, not the raw cosine", strict,
        too_few_for_channels(m, found))


def too_few_for_channels(m: dict, found: list[tuple]) -> str | None:
    """Why fig. 13 cannot be told: no σ₂ to measure stability over σ at (a REP of one noise level), else too few channels."""
    levels = m.get("stability", {}).get("sigma_levels")
    over_sigma = levels is not None and any(name == "stability over σ" for _, _, name, *_ in found)
    return ((over_sigma and too_few(len(levels), 1, "noise levels σ₂ to measure stability over σ at"))
            or too_few(min(c["channels"] for c, *_ in found), MIN_CHANNELS, "channels with defined statistics"))


def interval_verdict(interval: list[float]) -> bool | None:
    """Above 0 (True), below it (False), or straddling it (None: these images cannot tell)."""
    return True if interval[0] > 0 else False if interval[1] < 0 else None


def interval_text(interval: list[float]) -> str:
    return f"{interval[0]:+.3f} to {interval[1]:+.3f}"


def neighbours_finding(m: dict) -> dict | None:
    """Figs. 5, 14: images nearest in φ are semantically closer than images nearest in pixels (class labels as the
    proxy), judged on 95 % bootstrap intervals of φ's lead: an interval that straddles 0 cannot tell."""
    every, p = m.get("neighbours", {}).get("every_image"), m.get("probes")
    if every is None and p is None:
        return None
    parts, strict = [], []
    if every is not None:
        parts.append(part(f"φ's {every['k']} cosine neighbours share the image's label more often than pixels'",
                          f"neighbours' label agreement φ {f3(every['label_agreement'])} vs pixels {f3(every['pixel_label_agreement'])} "
                          f"(chance {f3(every['chance'])}, {every['images']} images), lead {interval_text(every['lead_interval'])}",
                          interval_verdict(every["lead_interval"])))
        strict.append(chance_part("neighbours' label agreement", every["lead_interval"], every.get("over_chance_interval")))
    if p is not None:
        for key, name in (("knn", f"{p['k']}-NN"), ("linear_probe", "linear probe")):
            parts.append(part(f"{name} class accuracy from φ above pixels",
                              f"{name} φ {f3(p[f'{key}_accuracy'])} vs pixels {f3(p[f'pixel_{key}_accuracy'])} (chance "
                              f"{f3(p['chance'])}, {p['n_test']} held-out images), lead {interval_text(p[f'{key}_lead_interval'])}",
                              interval_verdict(p[f"{key}_lead_interval"])))
            strict.append(chance_part(name, p[f"{key}_lead_interval"], p.get(f"{key}_over_chance_interval")))
    count = min(([every["images"]] if every else []) + ([p["n_test"]] if p else []))
    return finding(
        "Figs. 5, 14 (§2.5)",
        "“Images that are closest in the ϕ are semantically similar, in stark contrast to images that are closest in the "
        "pixel space.”",
        "class labels as the semantic proxy: the share of each image's cosine neighbours with its label, and class accuracy "
        "of a kNN and a linear probe on a held-out quarter, from φ and from pixels; each with the 95 % bootstrap interval "
        "(over images) of φ's lead over pixels: above 0 holds, below 0 does not, across 0 these images cannot tell",
        parts, "φ also above chance: the 95 % interval of φ's accuracy minus chance above 0, beside its lead over pixels", strict,
        too_few(count, 50, "held-out images"),
        undecided=(TOO_FEW, "every 95 % interval of φ's lead over pixels includes 0, on "
                   + " and ".join(([f"{every['images']} images (neighbours)"] if every else []) + ([f"{p['n_test']} held-out images (probes)"] if p else []))))


def chance_part(name: str, lead: list[float], over_chance: list[float] | None) -> dict:
    """φ's lead over pixels and over chance, both intervals above 0 (undecided where either straddles 0 and none is below)."""
    checks = [interval_verdict(lead)] + ([] if over_chance is None else [interval_verdict(over_chance)])
    verdict = False if False in checks else None if None in checks else True
    chance = "" if over_chance is None else f", over chance {interval_text(over_chance)}"
    return part(f"{name}: φ above pixels and above chance", f"{name} lead over pixels {interval_text(lead)}{chance}", verdict)


def clusters_finding(m: dict) -> dict | None:
    """Fig. 6: K-means clusters of φ more than 2 std apart (random and adjacent pairs); classes less well separated."""
    c = m["clusters"]
    k = next(iter(c["k"]))
    e = c["k"][k]
    parts = [
        part(f"all of {e['n_random_pairs']} random cluster pairs more than {SEPARATED_STD:g} std apart (k = {k})",
             f"{e['random_cluster_pairs_separated']:.0%} of {e['n_random_pairs']} random pairs", e["random_cluster_pairs_separated"] == 1),
        part(f"adjacent clusters at least {SEPARATED_STD:g} std apart", f"{e['adjacent_cluster_pairs_separated']:.0%} of adjacent pairs",
             e["adjacent_cluster_pairs_separated"] == 1),
    ]
    if "class_median_separation" in c:
        parts.append(part("classes less well separated than clusters",
                          f"median separation classes {c['class_median_separation']:.2f} vs clusters {e['median_separation']:.2f} "
                          f"({c['random_class_pairs_separated']:.0%} of class pairs > {SEPARATED_STD:g} std)",
                          c["class_median_separation"] < e["median_separation"]))
    null = e.get("null_median_separation")
    strict = [] if null is None else [part(
        f"clusters at least {NULL_MARGIN}× more separated than K-means on channel-shuffled φ",
        f"median separation {e['median_separation']:.2f} vs shuffled {null:.2f}; shuffled φ's clusters: "
        f"{e['null_random_cluster_pairs_separated']:.0%} of random and {e['null_adjacent_cluster_pairs_separated']:.0%} of adjacent pairs "
        f"> {SEPARATED_STD:g} std", e["median_separation"] > NULL_MARGIN * null)]
    small = min(e["smallest_cluster"], c.get("smallest_class", e["smallest_cluster"]))
    return finding(
        "Fig. 6 (§2.5)",
        "“centroids of adjacent clusters are at least 2 standard deviations apart. The ϕ's of human labeled classes, by "
        "comparison, are less well separated” (§2.5); “For all pairs, centroids are more than two standard deviations apart” "
        "(fig. 6, 100 random cluster pairs).",
        "centroid distance over √(mean variance of both groups' φ along the joining line), for random and adjacent pairs "
        "of K-means clusters and of classes",
        parts, "K-means cuts even structureless data into pieces 2 std apart: the same K-means on φ with every channel "
               "shuffled over images (same marginals, no joint structure) as the null", strict,
        too_few(small, 2, "images in the smallest cluster or class"))


def embedding_finding(d: dict) -> dict:
    """Eq. 3, figs. 8 and 14 right: A‖Δφ‖² ≤ d² ≤ B‖Δφ‖² with B/A ≈ 2.9, and d² strongly related to ‖Δφ‖²."""
    phi2, d2 = np.asarray(d["phi_distance2"], float), np.asarray(d["d2"], float)
    ok = (phi2 > 0) & np.isfinite(d2)
    rho = spearmanr(phi2[ok], d2[ok]) if ok.sum() > 2 else None
    rho_text = "–" if rho is None else f"Spearman ρ = {rho.statistic:.2f}, p = {rho.pvalue:.2g}"
    return finding(
        "Eq. 3, figs. 8 and 14 right (§3)",
        "“Euclidean distances of their representations satisfy the Euclidean embedding inequality (3) with B/A = 2.9”; "
        "“The distance between random pairs of ϕ vectors is strongly related to the distance between the pair of "
        "conditional densities they induce” (fig. 8).",
        "the tightest A ≤ d²/‖φ₁ − φ₂‖² ≤ B over the pairs (d² the symmetrised KL of eq. 4), and the Pearson correlation of d² "
        "with ‖φ₁ − φ₂‖²",
        [part(f"B/A at most the paper's {PAPER_B_OVER_A}", f"B/A = {d['B_over_A']:.1f} (A = {d['A']:.4g}, B = {d['B']:.4g}) over {int(ok.sum())} pairs",
              d["B_over_A"] <= PAPER_B_OVER_A),
         part(f"d² strongly related to ‖Δφ‖² (Pearson r > {STRONG_CORRELATION})", f"r = {d['pearson']:.2f}", d["pearson"] > STRONG_CORRELATION)],
        f"the relation is also monotone and significant: Spearman ρ > 0 with p < {STRICT_P}",
        [part("d² rises with ‖Δφ‖²", rho_text, rho is not None and rho.statistic > 0 and rho.pvalue < STRICT_P)],
        too_few(int(ok.sum()), MIN_PAIRS, "pairs"))


def matching_finding(before: np.ndarray, after: np.ndarray) -> dict:
    """Fig. 20: σ̂ = ‖D(y) − y‖/√n is the same before and after each φ-matching step."""
    before, after = np.asarray(before, float), np.asarray(after, float)
    change = np.abs(after / before - 1)
    r = float(np.corrcoef(before, after)[0, 1]) if before.size > 1 else float("nan")
    return finding(
        "Fig. 20 (§3)",
        "“Matching does not change the noise level σ” (fig. 20); “The matching step does not change the noise level” (§3).",
        "σ̂ = ‖D(y) − y‖/√n before and after every φ-matching step of the reconstructions",
        [part(f"σ̂ after tracks σ̂ before (correlation > {SIGMA_CORRELATION})", f"correlation {r:.4f} over {before.size} matching steps", r > SIGMA_CORRELATION),
         part(f"σ̂ unchanged: median relative change below {SIGMA_KEPT:.0%}", f"median |σ̂ after/σ̂ before − 1| {np.median(change):.2%}",
              np.median(change) < SIGMA_KEPT)],
        f"unchanged at almost every step: 95th percentile of the relative change below {SIGMA_KEPT:.0%}",
        [part("σ̂ unchanged at 95 % of steps", f"95th percentile {np.quantile(change, 0.95):.2%}", np.quantile(change, 0.95) < SIGMA_KEPT)],
        too_few(before.size, 10, "matching steps"))


ANALYSIS_FINDINGS = (("sparsity", sparsity_finding), ("stability", stability_finding), ("selectivity", selectivity_finding),
                     ("channels", channels_finding), ("neighbours", neighbours_finding), ("clusters", clusters_finding))


def findings(m: dict) -> dict:
    """Every finding of §2 that the analyse stage's metrics allow, by name, in the paper's order."""
    built = {name: build(m) for name, build in ANALYSIS_FINDINGS}
    return {name: f for name, f in built.items() if f is not None}


def summary_line(f: dict) -> str:
    """One line for a console: verdict, figure, our numbers; the stricter check's verdict after it."""
    return f"{verdict_text(f)} — {f['figure']}: {f['ours']} [stricter: {verdict_text(f['stricter'])}]"
