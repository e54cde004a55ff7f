"""Figures of an analysis folder, drawn from its saved metrics.json and .npz files (figures never compute)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .figures import save_figure, show

BLOCK_ORDER = ("enc1", "enc2", "enc3", "enc4", "mid", "dec4", "dec3", "dec2", "dec1")


def load(folder: Path, name: str) -> dict[str, np.ndarray] | None:
    path = folder / f"{name}.npz"
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        return {k.replace("__", "/"): z[k] for k in z.files}


def blocks_in(keys, prefix: str) -> list[str]:
    names = {k.split("/", 1)[1].removesuffix(".in") for k in keys if k.startswith(prefix)}
    return [b for b in BLOCK_ORDER if b in names]


def thumbnail_rows(fig: Figure, grid, first: int, rows: list[tuple[str, list[int]]], thumbs: dict, k: int,
                   values: list[list[float]] | None = None) -> None:
    """Rows of saved thumbnails under a figure's top panel, each row titled once, each image over its value when given;
    missing images left blank."""
    lookup = {int(i): j for j, i in enumerate(thumbs["index"])}
    for r, (label, ids) in enumerate(rows):
        for j, i in enumerate(list(ids)[:k]):
            sub = fig.add_subplot(grid[first + r, j])
            if int(i) in lookup:
                show(sub, thumbs["images"][lookup[int(i)]] / 255.0, label if j == 0 else None)
                if values is not None:
                    sub.text(0.5, -0.12, f"φ {values[r][j]:.3g}", transform=sub.transAxes, ha="center", va="top", fontsize=6)
            else:
                sub.set_axis_off()


def sparsity_figure(a: dict, m: dict, path: Path) -> None:
    """Fig. 1: histograms of per-image PR at the input (orange) and output (green) of each block."""
    blocks = blocks_in(a, "pr/")
    edges = a["bin_edges"]
    fig = Figure(figsize=(2.0 * len(blocks), 2.2), layout="constrained")
    axes = fig.subplots(1, len(blocks), squeeze=False)[0]
    for ax, b in zip(axes, blocks):
        for key, colour, label in ((f"counts/{b}.in", "tab:orange", "input"), (f"counts/{b}", "tab:green", "output")):
            if key in a:
                ax.stairs(a[key], edges, color=colour, label=label, fill=True, alpha=0.5)
        ax.set_title(f"{b}: median {m['pr_median'].get(b, float('nan')):.2f}", fontsize=8)
        ax.set_xlabel("PR", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    save_figure(fig, path)


def stability_figure(a: dict, m: dict, path: Path) -> None:
    """Fig. 2: cosine of ā(x_σ₁) and ā(x_σ₂) against σ₂, per block output: raw (solid), centred (dashed); σ₂ left out greyed."""
    fig = Figure(figsize=(5, 3.4), layout="constrained")
    ax = fig.subplots()
    for i, b in enumerate(blocks_in(a, "cosine/")):
        if f"cosine/{b}" in a:
            colour = f"C{i}"
            ax.plot(a["sigmas"], a[f"cosine/{b}"], lw=2.5 if b == "mid" else 1, color=colour, label=b)
            if f"centred/{b}" in a:
                ax.plot(a["sigmas"], a[f"centred/{b}"], lw=2.5 if b == "mid" else 1, color=colour, ls="--")
    kept = m.get("sigma_levels") or []
    if kept:
        ax.axvspan(0, min(kept), color="0.9", zorder=0, label="σ₂ left out")
    ax.axvline(m["sigma_ref"], color="gray", lw=0.5, ls="--")
    ax.set_xlabel("σ₂")
    ax.set_ylabel(f"cosine with σ₁ = {m['sigma_ref']:.2f}")
    ax.set_title("solid: raw cosine; dashed: centred", fontsize=8)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def selectivity_figure(a: dict, m: dict, thumbs: dict | None, path: Path) -> None:
    """Fig. 3: the distribution of channel PR across images, and the top images of the most selective channels."""
    channels = m["top_channels"][:4] if thumbs is not None else []
    k = max((len(m["top_images"][str(c)]) for c in channels), default=0)
    fig = Figure(figsize=(max(4, 0.9 * k + 2.5), 2.6 + 1.05 * len(channels)), layout="constrained")
    grid = fig.add_gridspec(1 + len(channels), max(k, 1), height_ratios=[2.6] + [1.05] * len(channels))
    ax = fig.add_subplot(grid[0, :])
    ax.stairs(a["counts"], a["bin_edges"], fill=True, alpha=0.6, label="live channels")
    if "mixture_density" in a:
        width = a["bin_edges"][1] - a["bin_edges"][0]
        ax.plot(a["mixture_pr"], a["mixture_density"] * a["counts"].sum() * width, color="tab:red", lw=1, label="fitted two-component mixture")
    ax.axvline(m["gmm_split"], color="black", ls="--", lw=0.8, label=f"mixture split (PR {m['gmm_split']:.2f})")
    ax.set_xlabel("channel PR across images (low = selective)")
    ax.set_ylabel("channels")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=6)
    left_out = f"{m['near_dead_channels']} near-dead, " if "near_dead_channels" in m else ""
    ax.set_title(f"{m['live_channels']} live channels ({left_out}{m['dead_channels']} dead left out); {m['selective_fraction']:.0%} below "
                 f"the split; Sarle's b {m['selectivity_bimodality']:.2f}", fontsize=8)
    if channels:
        thumbnail_rows(fig, grid, 1, [(f"ch {c}", m["top_images"][str(c)]) for c in channels], thumbs, k,
                       [m["top_values"][str(c)] for c in channels] if "top_values" in m else None)
    save_figure(fig, path)


def channels_figure(a: dict, m: dict, stability: dict | None, stability_m: dict | None, path: Path) -> None:
    """Fig. 13: kurtosis, spatial sparsity, spatial components (and stability over σ) of each channel against its selectivity."""
    panels = [(a[key], key.replace("_", " "), m[name]) for key, name in (
        ("kurtosis", "kurtosis_vs_selectivity"), ("spatial_sparsity", "spatial_sparsity_vs_selectivity"),
        ("components", "components_vs_selectivity"))]
    if stability is not None and "channel_cosine/mid" in stability and "channel_stability_vs_selectivity" in (stability_m or {}):
        panels.append((stability["channel_cosine/mid"], "stability over σ (cosine)", stability_m["channel_stability_vs_selectivity"]))
    fig = Figure(figsize=(3 * len(panels), 2.8), layout="constrained")
    for ax, (values, label, c) in zip(fig.subplots(1, len(panels)), panels):
        ax.scatter(a["selectivity_pr"], values, s=5)
        ax.set_xlabel("selectivity PR")
        ax.set_ylabel(label)
        rho = c.get("spearman")
        defined = rho is not None and np.isfinite(rho)
        ax.set_title(f"Spearman {rho:.2f} over {c['channels']} live channels" if defined
                     else f"Spearman undefined ({c['channels']} live channels with this statistic)", fontsize=8)
    save_figure(fig, path)


def clusters_figure(a: dict, m: dict, thumbs: dict | None, path: Path) -> None:
    """Fig. 6: centroid distance against spread for cluster pairs and class pairs, t-SNE, and members of clusters."""
    k = next(iter(m["k"]))
    panels = [("k" + k, "clusters")] + ([("class", "classes")] if "class/separation" in a else [])
    rows = 0 if thumbs is None else min(6, len(a[f"k{k}/samples"]))
    fig = Figure(figsize=(9, 3 + 0.9 * rows), layout="constrained")
    grid = fig.add_gridspec(1 + rows, 8, height_ratios=[3] + [0.9] * rows)
    for j, (prefix, name) in enumerate(panels):
        ax = fig.add_subplot(grid[0, 3 * j : 3 * j + 3])
        upper = np.triu_indices_from(a[f"{prefix}/distance"], 1)
        ax.scatter(a[f"{prefix}/spread"][upper], a[f"{prefix}/distance"][upper], s=8)
        top = float(np.nanmax(a[f"{prefix}/spread"][upper])) if len(upper[0]) else 1.0
        ax.plot([0, top], [0, 2 * top], color="gray", lw=0.8, label="2 std")
        ax.set_xlabel("√ mean variance along the joining line")
        ax.set_ylabel("centroid distance")
        ax.set_title(name, fontsize=8)
        ax.legend(fontsize=6)
    ax = fig.add_subplot(grid[0, 6:])
    for j, g in enumerate(np.unique(a[f"k{k}/tsne_group"])):
        ax.scatter(*a[f"k{k}/tsne"][a[f"k{k}/tsne_group"] == g].T, s=4, color=f"C{j}", label=f"cluster {g}")
    ax.set_title(f"t-SNE of φ, {len(np.unique(a[f'k{k}/tsne_group']))} of {k} clusters", fontsize=8)
    ax.set_xlabel("t-SNE 1", fontsize=7)
    ax.set_ylabel("t-SNE 2", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(a[f"k{k}/tsne_group"]):
        ax.legend(fontsize=6, markerscale=2)
    if rows:
        thumbnail_rows(fig, grid, 1, [(f"cluster {r}", [i for i in a[f"k{k}/samples"][r] if i >= 0]) for r in range(rows)], thumbs, 8)
    save_figure(fig, path)


def neighbours_figure(a: dict, thumbs: dict, path: Path) -> None:
    """Fig. 14: each query, its nearest images by cosine in φ (top row) and in pixels (bottom row)."""
    lookup = {int(i): j for j, i in enumerate(thumbs["index"])}
    queries = a["queries"][:4]
    k = a["neighbours"].shape[1]
    fig = Figure(figsize=(0.9 * (k + 1), 1.9 * len(queries)), layout="constrained")
    axes = fig.subplots(2 * len(queries), k + 1, squeeze=False)
    for q, query in enumerate(queries):
        for row, key, name in ((2 * q, "neighbours", "φ"), (2 * q + 1, "pixel_neighbours", "pixels")):
            show(axes[row, 0], thumbs["images"][lookup[int(query)]] / 255.0, f"query ({name})")
            for c, i in enumerate(a[key][q]):
                show(axes[row, c + 1], thumbs["images"][lookup[int(i)]] / 255.0)
    save_figure(fig, path)


def subspaces_figure(a: dict, m: dict, path: Path) -> None:
    """Fig. 5: the images of two clusters on one common and two selective channels of φ, each axis named for what it is."""
    fig = Figure(figsize=(4.6, 4.4), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    (g1, g2), ch = m["groups"], a["channels"]
    ax.scatter(*a["coords_a"].T, s=6, label=f"cluster {g1} (A), {len(a['coords_a'])} images")
    ax.scatter(*a["coords_b"].T, s=6, label=f"cluster {g2} (B), {len(a['coords_b'])} images")
    ax.set_xlabel(f"φ channel {ch[0]} (selective: A)", fontsize=7)
    ax.set_ylabel(f"φ channel {ch[1]} (selective: B)", fontsize=7)
    ax.set_zlabel(f"φ channel {ch[2]} (common)", fontsize=7)
    ax.set_box_aspect(None, zoom=0.85)
    ax.set_title("two clusters' φ on two selective channels and a common one", fontsize=8)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def factors_figure(a: dict, path: Path) -> None:
    """Normalised mutual information of every channel with each known generating factor."""
    mi, names = a["mi"], [str(n) for n in a["factor_names"]]
    order = np.argsort(-mi.max(1))[:64]
    fig = Figure(figsize=(7, 2.4), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(mi[order].T, aspect="auto", cmap="viridis", vmin=0)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("channels, most informative first")
    fig.colorbar(image, ax=ax, label="I(φ_c; factor) / H(factor)")
    save_figure(fig, path)


def draw_analysis(folder: str | Path, fmt: str = "png") -> list[Path]:
    """Every figure the folder's saved numbers allow, in folder/figures/ as `fmt` files; returns their paths."""
    folder = Path(folder)
    m = json.loads((folder / "metrics.json").read_text())
    thumbs = load(folder, "thumbnails")
    out = folder / "figures"
    drawn = []

    def draw(name: str, fn, *args) -> None:
        fn(*args, out / f"{name}.{fmt}")
        drawn.append(out / f"{name}.{fmt}")

    for name, fn in (("sparsity", sparsity_figure), ("stability", stability_figure)):
        a = load(folder, name)
        if a is not None and name in m:
            draw(name, fn, a, m[name])
    if (a := load(folder, "channels")) is not None and "channels" in m:
        draw("channels", channels_figure, a, m["channels"], load(folder, "stability"), m.get("stability"))
    for name, fn in (("selectivity", selectivity_figure), ("clusters", clusters_figure)):
        a = load(folder, name)
        if a is not None and name in m:
            draw(name, fn, a, m[name], thumbs)
    if (a := load(folder, "neighbours")) is not None and thumbs is not None:
        draw("neighbours", neighbours_figure, a, thumbs)
    if (a := load(folder, "subspaces")) is not None and "subspaces" in m:
        draw("subspaces", subspaces_figure, a, m["subspaces"])
    if (a := load(folder, "factors")) is not None:
        draw("factors", factors_figure, a)
    return drawn
