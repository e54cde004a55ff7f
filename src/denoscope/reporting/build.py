"""`denoscope report`: one HTML page of every stage folder given, each figure with a caption of its saved numbers and
whether the paper's finding holds here, plus the explorer; validated first, written to a temporary folder, then swapped in."""

from __future__ import annotations

import html
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..analysis.findings import FAILS, HOLDS, PARTLY, TIE, TOO_FEW, embedding_finding, matching_finding, verdict_text
from ..data import Transform, reopen
from ..errors import DataError, OutputError
from ..io import atomic_file, check_writable, ensure_dir, fsync_dir, write_text
from ..progress import stage_bar
from ..representation.store import source_mismatch
from ..training import read_metrics
from .explorer import TILE, ExplorerData, thumbnail_tile, write_explorer
from .figures import training_figure
from .inputs import Inputs, Stage, gather

MARK = ".denoscope-report"
DENOISES = ("better than the noisy input", "not better than the noisy input")
STAGES = ("run", "denoise", "rep", "analysis", "samples", "inverse", "reconstruct", "distance")
FINDINGS_STYLE = (".partly { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 0.85em; font-weight: 500; "
                  "line-height: 1.6; background: #bf8700; color: #fff; } table.findings td { white-space: normal; text-align: left; "
                  "vertical-align: top; } table.findings { table-layout: fixed; width: 100%; } table.findings th { text-align: left; white-space: normal; } "
                  "table.findings th:nth-child(1) { width: 8%; } table.findings th:nth-child(2) { width: 25%; } table.findings th:nth-child(3) { width: 22%; } "
                  "table.findings th:nth-child(4), table.findings th:nth-child(6) { width: 9%; } table.findings th:nth-child(5) { width: 27%; }")


@dataclass(frozen=True)
class Figure:
    src: str | None  # relative to the report folder; None: a finding whose figure was not drawn
    title: str
    caption: str
    finding: bool | None = None  # a check of ours that is not one of the paper's findings (None: none)
    badges: tuple[str, str] = ("holds here", "does not hold here")
    record: dict | None = None  # the paper's finding shown by this figure (analysis/findings.py), judged here


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    intro: str
    figures: tuple[Figure, ...] = ()


def fmt(x, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{digits}f}"


def copy_figure(stage: Stage, name: str, out: Path, prefix: str) -> str | None:
    """Copy a stage's saved PNG into OUT/figures/; None when the stage drew none."""
    src = stage.path / name
    if not src.is_file():
        return None
    target = f"figures/{prefix}-{Path(name).name}"
    with atomic_file(out / target) as tmp:
        shutil.copyfile(src, tmp)
    return target


def psnr_table(sigmas: dict) -> str:
    """Denoised / noisy PSNR per σ, as an HTML table, from {σ: {"psnr", "psnr_input", …}}."""
    head = "".join(f"<th>σ = {html.escape(s)}</th>" for s in sigmas)
    row = "".join(f"<td>{fmt(v['psnr'])} / {fmt(v['psnr_input'])}</td>" for v in sigmas.values())
    return f'<table class="numbers"><tr><th></th>{head}</tr><tr><th>PSNR denoised / noisy (dB)</th>{row}</tr></table>'


def beats_noisy(sigmas: dict) -> tuple[bool, str]:
    worse = [s for s, v in sigmas.items() if v["psnr"] <= v["psnr_input"]]
    return not worse, "better than the noisy input at every σ" if not worse else f"not better than the noisy input at σ = {', '.join(worse)}"


def training_section(run: Stage, out: Path) -> Section:
    records = read_metrics(run.path / "metrics.jsonl")
    training_figure(records, out / "figures/training.png")
    evals = [r for r in records if "psnr" in r]
    steps = max((r.get("step", 0) for r in records), default=0)
    if evals:
        last = {s: {"psnr": v, "psnr_input": evals[-1]["psnr_input"][s]} for s, v in evals[-1]["psnr"].items()}
        ok, words = beats_noisy(last)
        caption = (f"Training MSE over {steps} steps (left) and the held-out PSNR checked during training (right, eval mode; "
                   f"dotted: the noisy input). At step {evals[-1]['step']} the model is {words}. {psnr_table(last)}")
    else:
        ok, caption = None, f"Training MSE over {steps} steps; no held-out PSNR was checked during training."
    config = html.escape((run.path / "config.toml").read_text())
    return Section("training", "Training", f"Run folder <code>{html.escape(str(run.path))}</code>.<details><summary>config.toml</summary><pre>{config}</pre></details>",
                   (Figure("figures/training.png", "Training curve", caption, ok, DENOISES),))


def denoise_section(stage: Stage, out: Path) -> Section:
    m = stage.metrics
    ok, words = beats_noisy(m["sigma"])
    src = copy_figure(stage, "denoised.png", out, "denoise")
    caption = (f"Clean image, then noisy and denoised pairs at each σ, for held-out images of {html.escape(str(m.get('source')))} "
               f"({m.get('images')} images, eval mode). The denoiser is {words}. {psnr_table(m['sigma'])}")
    return Section("denoise", "Denoising held-out images", "", (Figure(src, "Denoising examples", caption, ok, DENOISES),) if src else ())


ANALYSES = (
    # (figure, title, what it draws, the finding it shows)
    ("sparsity", "Sparsity across blocks (paper fig. 1)", "Histograms of the participation ratio (PR) of ā per image at each "
     "block's input (orange) and output (green).", "sparsity"),
    ("stability", "Stability across noise (fig. 2)", "Cosine of ā(x, σ₁) and ā(x, σ₂) against σ₂ for each block's output: "
     "raw (solid) and centred (dashed, each σ's mean over images subtracted).", "stability"),
    ("selectivity", "Channel selectivity (fig. 3)", "The distribution of each live channel's PR across images, and the images "
     "that activate the most selective channels most.", "selectivity"),
    ("channels", "What selectivity predicts (fig. 13)", "Each live channel's kurtosis, spatial PR and PCA components against "
     "its selectivity PR.", "channels"),
    ("subspaces", "Common and selective subspaces (fig. 5)", "Images that share selective channels lie in their own subspaces, "
     "on top of a common one.", None),
    ("neighbours", "Nearest neighbours in φ and in pixels (figs. 5, 14)", "Queries with their nearest images by cosine "
     "similarity of φ (upper row) and of pixels (lower row).", "neighbours"),
    ("clusters", "Clusters of φ (fig. 6)", "Centroid distance against the spread along the joining line, for pairs of K-means "
     "clusters and of classes (the line: 2 std), a t-SNE of a few clusters, and members of clusters.", "clusters"),
    ("factors", "Generating factors", "Which factors of the synthetic images φ encodes, beside pixels.", None),
)
COMPARES_IMAGES = ("subspaces", "neighbours", "clusters")  # figures whose comparisons ride on φ differing between images
BADGE_CLASS = {HOLDS: "holds", PARTLY: "partly", FAILS: "fails", TOO_FEW: "missing", TIE: "missing"}


def record_caption(r: dict) -> str:
    """The paper's words and statistic, our numbers and verdict, then our stricter check and its verdict, from one record."""
    e = html.escape
    return (f"<b>Paper ({e(r['figure'])}):</b> {e(r['statement'])} <b>Statistic:</b> {e(r['statistic'])}. "
            f"<b>Here:</b> {e(r['ours'])} — {e(verdict_text(r))}{why(r)}. <b>Stricter check</b> ({e(r['stricter']['check'])}): "
            f"{e(r['stricter']['ours'])} — {e(verdict_text(r['stricter']))}{why(r['stricter'])}.")


def why(j: dict) -> str:
    """' (why: …)': the verdict's one-line reason, when the record has one (records of older analyses have none)."""
    return f" <i>(why: {html.escape(j['reason'])})</i>" if j.get("reason") else ""


def analysis_numbers(name: str, m: dict) -> str:
    """The numbers behind an analysis figure that shows none of the paper's findings, from analysis/metrics.json."""
    a = m.get(name)
    if a is None:
        return ""
    if name == "subspaces":
        (g1, g2), (c1, c2, common) = a["groups"], a["channels"]
        return (f"The images of K-means clusters {g1} (A) and {g2} (B) of φ, the two most populous, on three channels: channel "
                f"{c1}, selective for cluster {g1}; channel {c2}, selective for cluster {g2}; channel {common}, common to both "
                f"(PR across their images {fmt(a['common_pr'])}). Share of each cluster's energy on its own selective channel: "
                f"{fmt(a['own_energy_fraction'][0])} (A), {fmt(a['own_energy_fraction'][1])} (B); 0.5 would be no preference.")
    if name == "factors":
        return "; ".join(f"{f}: kNN φ {fmt(v['knn_accuracy'])} vs pixels {fmt(v['pixel_knn_accuracy'])} (chance {fmt(v['chance'])})"
                         for f, v in a["factors"].items()) + "."
    return ""


def analysis_section(stage: Stage, out: Path) -> Section:
    m = stage.metrics
    figures = []
    for name, title, drawn, key in ANALYSES:
        src = copy_figure(stage, f"figures/{name}.png", out, "analysis")
        record = m.get("findings", {}).get(key) if key else None
        if src is None and record is None:
            continue
        text = record_caption(record) if record else analysis_numbers(name, m)
        warn = "".join(f" <b class=\"warning\">Warning: {html.escape(w)}.</b>" for w in m.get("warnings", [])) if name in COMPARES_IMAGES else ""
        figures.append(Figure(src, title, f"{'(Not drawn.) ' if src is None else drawn} {text}{warn}", record=record))
    intro = (f"{m.get('images')} images of {html.escape(str(m.get('source')))}; φ at σ = {fmt(m.get('sigma'), 3)}, from "
             f"<code>{html.escape(str(m.get('rep')))}</code>. {live_line(m.get('selectivity', {}))}")
    intro += "".join(f' <b class="warning">Warning: {html.escape(w)}.</b>' for w in m.get("warnings", []))
    return Section("analysis", "The representation φ", intro, tuple(figures))


def live_line(s: dict) -> str:
    """How many channels are live, near-dead and dead, and the rule (selectivity metrics; empty for older analyses)."""
    if "near_dead_channels" not in s:
        return ""
    return (f"{s['live_channels']} live channels, {s['near_dead_channels']} near-dead and {s['dead_channels']} dead: a channel is "
            f"live when its largest φ reaches {s['live_floor']:g} × the median over active channels of each channel's largest "
            f"φ (here {s['live_threshold']:.3g}); near-dead and dead channels are left out of selectivity and the channel pages, "
            "and a channel's top images are those at or above that φ.")


def samples_figure(st: Stage, out: Path) -> Figure:
    m = st.metrics
    return Figure(copy_figure(st, "samples.png", out, "samples"), "Unconditional samples (fig. 19)",
                  f"Reverse diffusion from the mean image plus noise: {m['converged']} of {m['images']} samples converged to σ = "
                  f"{fmt(m['diffusion']['sigma_final'])}, {fmt(m['evaluations_per_sample'], 0)} network evaluations and "
                  f"{fmt(m['seconds_per_sample'])} s per sample.")


def inverse_figure(st: Stage, out: Path, i: int) -> Figure:
    m = st.metrics
    return Figure(copy_figure(st, "inverse.png", out, f"inverse{i}"), f"Inverse problem: {html.escape(m['task'])}",
                  f"Rows: originals, the pseudo-inverse Mx_c, the solution with the denoiser's prior ({m['measurements']} "
                  f"measurements). Mean PSNR {fmt(m['psnr_mean'])} dB vs the pseudo-inverse's {fmt(m['psnr_pseudo_inverse_mean'])} dB.",
                  m["psnr_mean"] > m["psnr_pseudo_inverse_mean"], ("better than the pseudo-inverse", "not better than the pseudo-inverse"))


def reconstruct_figures(st: Stage, out: Path, i: int) -> list[Figure]:
    m = st.metrics
    labels = ", ".join(html.escape(t["label"] if isinstance(t, dict) else str(t)) for t in m["targets"])
    closer, baseline = phi_baseline(m)
    figures = [Figure(copy_figure(st, "reconstruct.png", out, f"reconstruct{i}"), "Reconstruction from φ (fig. 7)",
                      f"{m['per_target']} samples of p(x | φ) for each target ({labels}), self-guided by the model's own φ "
                      f"(Alg. 1). {baseline}", closer, ("closer to the target's φ than random images are",
                                                        "no closer to the target's φ than random images are"))]
    src = copy_figure(st, "sigma_match.png", out, f"reconstruct{i}")
    if src:
        a = st.arrays("reconstruct")
        record = matching_finding(a["sigma_before"], a["sigma_after"])
        figures.append(Figure(src, "σ̂ before and after φ-matching (fig. 20)", "σ̂ of each sample just before a φ-matching step "
                              f"against σ̂ right after it (the diagonal: unchanged). {record_caption(record)}", record=record))
    return figures


def phi_baseline(m: dict) -> tuple[bool | None, str]:
    """Whether the samples' φ comes closer to the target's than random images' φ does (issue 26's assessment), and the
    sentence that says so with the numbers; the matching error alone says nothing, it is driven down by construction."""
    match = (f"The φ-match error during sampling, {fmt(m['phi_match_error_median'], 3)} (median, relative, at σ = 0.2), "
             "is driven down by the guidance itself and is no evidence alone.")
    a = m.get("assessment")
    if not a or "phi_distance" not in a.get("measures", {}):
        return None, (f"{match} No baseline was computed (reconstruct --baselines 0, or centroid targets, which have no image "
                      "to hold against random images): whether the samples are closer to their target than chance is not known.")
    d = a["measures"]["phi_distance"]
    med = d["median"]
    closer = med["guided"] < med["random"] and d["guided_closer_than_random"] == 1
    return closer, (f"Relative φ distance to the target at σ = {fmt(a['phi_sigma'])} (median over {a['targets']} targets): samples "
                    f"{fmt(med['guided'], 3)}, unguided samples {fmt(med['unguided'], 3)}, random images {fmt(med['random'], 3)}; "
                    f"the target's own φ re-estimated {fmt(a['phi_distance_target_to_itself_median'], 3)} (the floor). Samples closer "
                    f"than random images for {d['guided_closer_than_random']:.0%} of targets, than both baselines for "
                    f"{d['guided_closer_than_both']:.0%}. {match}")


def distance_figure(st: Stage, out: Path) -> Figure:
    m = st.metrics
    record = embedding_finding(m)
    return Figure(copy_figure(st, "distance.png", out, "distance"), "Distance between conditional densities (eq. 3–4)",
                  f"d²(p(x|φ₁), p(x|φ₂)) against ‖φ₁ − φ₂‖² for {len(m['d2'])} pairs, with the lines of slope A and B that bound "
                  f"them: A‖Δφ‖² ≤ d² ≤ B‖Δφ‖². {record_caption(record)} {html.escape(m['note'])}.", record=record)


def sampling_section(inputs: Inputs, out: Path) -> Section:
    figures = [samples_figure(st, out) for st in inputs.all("samples")]
    figures += [inverse_figure(st, out, i) for i, st in enumerate(inputs.all("inverse"))]
    figures += [f for i, st in enumerate(inputs.all("reconstruct")) for f in reconstruct_figures(st, out, i)]
    figures += [distance_figure(st, out) for st in inputs.all("distance")]
    return Section("sampling", "Sampling with the denoiser's prior", "", tuple(f for f in figures if f.src))


def not_computed(inputs: Inputs) -> list[str]:
    missing = [f"{kind}: no {kind} folder was given" for kind in STAGES if not inputs.all(kind)]
    a = inputs.one("analysis")
    return missing + ([] if a is None else [f"analysis — {x}" for x in a.metrics.get("not_computed", [])])


def verdict_badge(j: dict) -> str:
    return f'<span class="{BADGE_CLASS[j["verdict"]]}">{html.escape(verdict_text(j))}</span>'


def badge(f: Figure) -> str:
    if f.record is not None:
        return verdict_badge(f.record)
    return "" if f.finding is None else f'<span class="{"holds" if f.finding else "fails"}">{f.badges[not f.finding]}</span>'


def glance(figures: list[tuple[str, Figure]]) -> str:
    """The paper's findings, one row each (figure, statement, our numbers, verdict and why, our stricter check, its
    verdict), then our other checks, each row with the numbers its badge rests on (its caption)."""
    e = html.escape
    rows = "".join(
        f'<tr><td><a href="#{anchor}">{e(r["figure"])}</a></td><td>{e(r["statement"])}</td><td>{e(r["ours"])}</td>'
        f'<td>{verdict_badge(r)}{reason_note(r)}</td><td>{e(r["stricter"]["check"])}: {e(r["stricter"]["ours"])}</td>'
        f'<td>{verdict_badge(r["stricter"])}{reason_note(r["stricter"])}</td></tr>'
        for anchor, f in figures if (r := f.record) is not None)
    table = ('<table class="numbers findings"><tr><th>figure</th><th>the paper says</th><th>here</th><th>verdict</th>'
             f"<th>our stricter check</th><th>its verdict</th></tr>{rows}</table>") if rows else ""
    others = "".join(f'<tr><td><a href="#{anchor}">{f.title}</a></td><td>{badge(f)}</td><td class="numbers-behind">{f.caption}</td></tr>'
                     for anchor, f in figures if f.record is None and f.finding is not None)
    head = '<tr><th style="width:18%">our check</th><th style="width:17%">verdict</th><th style="width:65%">the numbers behind it</th></tr>'
    return table + (f'<table class="numbers findings others">{head}{others}</table>' if others else "")


def reason_note(j: dict) -> str:
    """The verdict's one-line reason under its badge (nothing for records of older analyses)."""
    return f'<div class="why">{html.escape(j["reason"])}</div>' if j.get("reason") else ""


def image(f: Figure) -> str:
    return "" if f.src is None else f'<img src="{f.src}" alt="{html.escape(f.title)}">'


def render(title: str, sections: list[Section], missing: list[str], explorer: bool) -> str:
    """The page: a verdict per finding at the top, then each section's figures with their captions, then what is missing."""
    figures = [(f"{s.anchor}-{i}", f) for s in sections for i, f in enumerate(s.figures)]
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    nav += '<a href="explorer.html">Explorer</a>' if explorer else ""
    verdicts = glance(figures)
    body = [f'<section id="glance"><h2>At a glance</h2>{verdicts}</section>'] if verdicts else []
    for s in sections:
        figs = "".join(f'<figure id="{anchor}">{image(f)}<figcaption><b>{f.title}.</b> {badge(f)} '
                       f"{f.caption}</figcaption></figure>" for anchor, f in figures if anchor.rsplit("-", 1)[0] == s.anchor)
        body.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2><p>{s.intro}</p>{figs}</section>')
    items = "".join(f"<li>{html.escape(x)}</li>" for x in missing) or "<li>nothing: every stage was given</li>"
    body.append(f'<section id="missing"><h2>Not computed</h2><ul class="missing">{items}</ul></section>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<link rel="stylesheet" href="assets/style.css"><style>{FINDINGS_STYLE}</style></head><body><nav>{nav}</nav><h1>{html.escape(title)}</h1>'
            + "".join(body) + "</body></html>\n")


def check_out(out: Path) -> None:
    """The output folder may be new, empty, or an earlier report (replaced whole); anything else is refused."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARK).exists())):
        raise OutputError(f"{out} exists and is not an earlier denoscope report; give a new or empty folder to --out")
    check_writable(out.parent if not out.exists() else out, "report folder")


def build_report(folders: list[str | Path], out: str | Path, title: str | None = None, progress: bool = False) -> Path:
    """Write OUT/index.html of the saved stage `folders` (and the explorer when a REP and its analysis are given);
    returns the index page. Needs nothing but the folders: a notebook calls it as the CLI does."""
    inputs = gather(folders)
    out = Path(out)
    check_out(out)
    with stage_bar("report", 3, progress) as update:
        update(status="thumbnails")
        explorer = explorer_data(inputs)
        update(advance=1, status="figures and captions")
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            ensure_dir(tmp / "figures")
            sections = sections_of(inputs, tmp)
            missing = not_computed(inputs)
            update(advance=1, status="explorer")
            if isinstance(explorer, str):
                missing.append(f"explorer: {explorer}")
            else:
                by_image, by_cluster = reconstruction_images(inputs, tmp, explorer)
                write_explorer(tmp, replace(explorer, reconstructions=by_image, centroid_reconstructions=by_cluster))
            run = inputs.one("run")
            name = title or f"denoscope report: {run.path.name if run else Path(folders[0]).name}"
            write_text(tmp / "index.html", render(name, sections, missing, not isinstance(explorer, str)))
            write_text(tmp / MARK, "written by denoscope report\n")
            fsync_dir(tmp)
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        update(advance=1, status="")
    return out / "index.html"


def sections_of(inputs: Inputs, out: Path) -> list[Section]:
    """The page's sections, in the order of the data flow, for the stages that were given."""
    builders = [(kind, build) for kind, build in (
        ("run", lambda: training_section(inputs.one("run"), out)),
        ("denoise", lambda: denoise_section(inputs.one("denoise"), out)),
        ("analysis", lambda: analysis_section(inputs.one("analysis"), out)),
        ("samples", lambda: sampling_section(inputs, out)),
    ) if inputs.all(kind) or (kind == "samples" and any(inputs.all(k) for k in ("inverse", "reconstruct", "distance")))]
    sections = []
    for kind, build in builders:
        try:
            sections.append(build())
        except KeyError as e:
            raise DataError(f"a {kind} folder's saved numbers lack {e} ({', '.join(str(st.path) for st in inputs.all(kind)) or 'sampling folders'}); "
                            "expected the files this version's stage writes — run that stage again") from None
    return sections


def thumbnails_of(manifest: dict) -> np.ndarray | None:
    """Every image of the REP's source as a TILE² thumbnail, or None when the source cannot be opened any more."""
    try:
        images = reopen(manifest["source"], channels=manifest["model"]["config"]["channels"])
    except DataError:
        return None
    if source_mismatch(manifest, images) is not None:
        return None
    size = manifest.get("image_size")
    crop = Transform(size=size, mode="center-crop") if size else Transform()
    tiles = np.empty((len(images), TILE, TILE, 3), np.uint8)
    for i in range(len(images)):
        tiles[i] = thumbnail_tile(crop(images[i]))
    return tiles


def explorer_data(inputs: Inputs) -> ExplorerData | str:
    """The explorer's arrays from the REP and analysis folders, or the reason it cannot be built."""
    from ..representation import Representation

    rep_stage, a = inputs.one("rep"), inputs.one("analysis")
    if rep_stage is None or a is None:
        return "needs both a REP folder and its analysis folder"
    rep = Representation(rep_stage.path)
    m = a.metrics
    if m.get("images") != rep.n:
        raise DataError(f"{a.path} analysed {m.get('images')} images but {rep.path} holds {rep.n}; give the REP that analysis read")
    sel = a.arrays("selectivity")
    if "channel_top" not in sel:
        return f"{a.path} was written by an older analyse (no per-channel top images); run analyse again"
    clusters = a.arrays("clusters")
    first = next((k for k in clusters if k.endswith("/assignment") and k.startswith("k")), None)
    table = a.arrays("neighbour_table") if (a.path / "neighbour_table.npz").exists() else None
    thumbs = thumbnails_of(rep.manifest)
    missing = [] if thumbs is not None else [f"thumbnails: {rep.manifest['source']} cannot be opened here"]
    missing += [] if table is not None else ["neighbours of every image: analyse was run without the images"]
    labels = rep.labels
    return ExplorerData(
        phi=np.asarray(rep.phi(m["sigma"]), dtype=np.float32), title=f"φ of {rep.n} images of {rep.manifest['source']}",
        rep=rep.path, source=rep.manifest["source"], sigma=float(m["sigma"]), channel_pr=sel["channel_pr"], channel_mean=sel["channel_mean"], channel_top=sel["channel_top"],
        channel_top_values=sel["channel_top_values"], selectivity_split=m["selectivity"].get("gmm_split"), thumbnails=thumbs,
        labels=None if labels is None else np.asarray(labels, dtype=np.int16), class_names=rep.class_names,
        assignment=None if first is None else clusters[first], cluster_k=None if first is None else int(first[1:].split("/")[0]),
        neighbours=table, not_computed=missing)


def reconstruction_images(inputs: Inputs, out: Path, data: ExplorerData) -> tuple[dict, dict]:
    """Each reconstruction sample as a PNG in OUT/images/, keyed by the image or cluster it was conditioned on."""
    by_image: dict[int, list[dict]] = {}
    by_cluster: dict[int, list[dict]] = {}
    for r, st in enumerate(inputs.all("reconstruct")):
        m = st.metrics
        samples = st.arrays("reconstruct")["samples"]
        for t, target in enumerate(m["targets"]):
            if not isinstance(target, dict):
                continue
            if target.get("source") == data.source and "image" in target:
                into = by_image.setdefault(int(target["image"]), [])
            elif "cluster" in target and target.get("k") == data.cluster_k and Path(target["rep"]).resolve() == data.rep.resolve():
                into = by_cluster.setdefault(int(target["cluster"]), [])
            else:
                continue
            for j in range(t * m["per_target"], (t + 1) * m["per_target"]):
                src = f"images/rec{r}-{j}.png"
                image = (np.clip(samples[j], 0, 1) * 255).round().astype(np.uint8)
                with atomic_file(ensure_dir(out / "images") / f"rec{r}-{j}.png") as tmp:
                    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(tmp, format="PNG")
                into.append({"src": src, "phi_match_error": float(m["phi_match_error"][j])})
    return by_image, by_cluster
