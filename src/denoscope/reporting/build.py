"""`denoscope report`: one HTML page of every stage folder given, each figure with a caption of its saved numbers and
whether the paper's finding holds here, plus the explorer; validated first, written to a temporary folder, then swapped in."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import shutil
import time
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..analysis.findings import FAILS, HOLDS, PARTLY, TIE, TOO_FEW, embedding_finding, matching_finding, verdict_text
from ..analysis.findings_2023 import converged, generalize_finding, jacobian_findings
from ..checkpoint import file_hash
from ..data import Transform, reopen
from ..errors import DataError, OutputError
from ..io import MARKER, OUT_METRICS, WEIGHTS, atomic_file, check_writable, ensure_dir, fsync_dir, write_json, write_text
from ..progress import stage_bar
from ..representation.store import source_mismatch
from ..training import read_metrics
from .explorer import TILE, ExplorerData, copy_static, thumbnail_tile, write_explorer
from .figures import FORMATS, training_figure
from .inputs import Inputs, Stage, grouped, read_json, recognise
from .jacobian_figures import EIGENVECTORS, SPECTRA

MARK = ".denoscope-report"
DENOISES = ("better than the noisy input", "not better than the noisy input")
STAGES = ("run", "denoise", "rep", "analysis", "samples", "inverse", "reconstruct", "distance", "jacobian", "generalize")
ASSETS = ("style.css", "report.css", "report.js")
VECTOR_FORMATS = tuple(f for f in FORMATS if f != "png")  # copies `denoscope draw --format` may have made beside a PNG
FINDINGS_STYLE = (".partly { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 0.85em; font-weight: 500; "
                  "line-height: 1.6; background: #bf8700; color: #fff; } table.findings td { white-space: normal; text-align: left; "
                  "vertical-align: top; } table.findings { table-layout: fixed; width: 100%; } table.findings th { text-align: left; white-space: normal; } "
                  "table.findings th:nth-child(1) { width: 7%; } table.findings th:nth-child(2) { width: 20%; } table.findings th:nth-child(3) { width: 20%; } "
                  "table.findings th:nth-child(4), table.findings th:nth-child(6) { width: 15%; } table.findings th:nth-child(5) { width: 23%; } "
                  "table.findings .why { font-size: 0.85em; color: var(--muted); margin-top: 2px; }")


@dataclass(frozen=True)
class Figure:
    src: str | None  # relative to the report folder; None: a finding whose figure was not drawn
    title: str
    caption: str
    finding: bool | None = None  # a check of ours that is not one of the paper's findings (None: none)
    badges: tuple[str, str] = ("holds here", "does not hold here")
    record: dict | None = None  # the paper's finding shown by this figure (analysis/findings.py), judged here
    links: tuple[tuple[str, str], ...] = ()  # (label, path in the report): the numbers behind the figure
    chart: str = ""  # the interactive chart drawn by assets/report.js in place of the PNG (which stays as the fallback)
    vectors: tuple[tuple[str, str], ...] = ()  # (format, path in the report): the PDF/SVG copies `denoscope draw` made


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    intro: str
    figures: tuple[Figure, ...] = ()
    run: str = ""  # the run (column) this section belongs to when the report shows several


def fmt(x, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{digits}f}"


def copy_into(stage: Stage, name: str, out: Path, folder: str, prefix: str) -> str | None:
    """Copy a stage's saved file into OUT/FOLDER/ under a prefixed name; its path there, None when the stage has none."""
    src = stage.path / name
    if not src.is_file():
        return None
    target = f"{folder}/{prefix}-{Path(name).name}"
    with atomic_file(out / target) as tmp:
        shutil.copyfile(src, tmp)
    return target


def copy_figure(stage: Stage, name: str, out: Path, prefix: str) -> str | None:
    """Copy a stage's saved PNG into OUT/figures/, with the vector copies `denoscope draw` made beside it (those drawn
    since the PNG: an older one shows numbers the stage has since replaced); None when the stage drew none."""
    png = stage.path / name
    for fmt in VECTOR_FORMATS:
        vector = png.with_suffix(f".{fmt}")
        if png.is_file() and vector.is_file() and vector.stat().st_mtime >= png.stat().st_mtime:
            copy_into(stage, vector.relative_to(stage.path).as_posix(), out, "figures", prefix)
    return copy_into(stage, name, out, "figures", prefix)


def with_vectors(section: Section, out: Path) -> Section:
    """The section with each figure's vector copies linked, those copy_figure found (paths from the report's root)."""
    def found(src: str | None) -> tuple[tuple[str, str], ...]:
        copies = [Path(src).with_suffix(f".{fmt}").as_posix() for fmt in VECTOR_FORMATS] if src else []
        return tuple((Path(c).suffix[1:].upper(), c) for c in copies if (out / c).is_file())

    return replace(section, figures=tuple(replace(f, vectors=found(f.src)) for f in section.figures))


def copy_numbers(stage: Stage, name: str, out: Path, prefix: str) -> tuple[str, str] | None:
    """Copy a stage's saved numbers file into OUT/numbers/ (a link beside its figures); None when it has none."""
    target = copy_into(stage, name, out, "numbers", prefix)
    return None if target is None else (Path(name).name, target)


def write_csv(out: Path, name: str, header: list[str], rows: list[list]) -> tuple[str, str]:
    """OUT/numbers/NAME: a table of a figure's numbers (floats at full precision), as a (label, path) link."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in row] for row in rows])
    write_text(ensure_dir(out / "numbers") / name, text.getvalue())
    return name, f"numbers/{name}"


def psnr_rows(sigmas: dict) -> list[list]:
    return [[s, v["psnr"], v["psnr_input"]] for s, v in sigmas.items()]


def psnr_table(sigmas: dict) -> str:
    """Denoised / noisy PSNR per σ, as an HTML table, from {σ: {"psnr", "psnr_input", …}}."""
    head = "".join(f"<th>σ = {html.escape(s)}</th>" for s in sigmas)
    row = "".join(f"<td>{fmt(v['psnr'])} / {fmt(v['psnr_input'])}</td>" for v in sigmas.values())
    return f'<table class="numbers"><tr><th></th>{head}</tr><tr><th>PSNR denoised / noisy (dB)</th>{row}</tr></table>'


def beats_noisy(sigmas: dict) -> tuple[bool, str]:
    worse = [s for s, v in sigmas.items() if v["psnr"] <= v["psnr_input"]]
    return not worse, "better than the noisy input at every σ" if not worse else f"not better than the noisy input at σ = {', '.join(worse)}"


CHART = ('<div class="charts"><div class="chart" data-chart="loss" data-ylabel="training MSE" data-log="1"></div>'
         '<div class="chart" data-chart="psnr" data-ylabel="held-out PSNR (dB)"></div></div>')


def curves_of(run: Stage) -> dict:
    """The run's training curves for the interactive chart: loss per step, held-out PSNR per σ, the noisy input's PSNR."""
    records = read_metrics(run.path / "metrics.jsonl")
    evals = [r for r in records if "psnr" in r]
    sigmas = list(evals[0]["psnr"]) if evals else []
    return {"loss": [[r["step"], r["loss"]] for r in records if "loss" in r], "sigmas": sigmas,
            "psnr": {s: [[r["step"], r["psnr"][s]] for r in evals] for s in sigmas}, "psnr_input": evals[-1]["psnr_input"] if evals else {}}


def training_numbers(run: Stage, curves: dict, out: Path) -> tuple[tuple[str, str], ...]:
    """The run's log and config as saved, and its loss and held-out PSNR curves as CSV."""
    loss = write_csv(out, "training-loss.csv", ["step", "loss"], curves["loss"])
    psnr = write_csv(out, "training-psnr.csv", ["step", "sigma", "psnr", "psnr_input"],
                     [[step, s, v, curves["psnr_input"][s]] for s, points in curves["psnr"].items() for step, v in points])
    saved = [copy_numbers(run, name, out, "run") for name in ("metrics.jsonl", "config.toml")]
    return (loss, psnr, *(x for x in saved if x), ("PNG", "figures/training.png"))


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
                   (Figure("figures/training.png", "Training curve", caption, ok, DENOISES, links=training_numbers(run, curves_of(run), out),
                           chart=CHART),))


def denoise_section(stage: Stage, out: Path) -> Section:
    m = stage.metrics
    ok, words = beats_noisy(m["sigma"])
    src = copy_figure(stage, "denoised.png", out, "denoise")
    caption = (f"Clean image, then noisy and denoised pairs at each σ, for held-out images of {html.escape(str(m.get('source')))} "
               f"({m.get('images')} images, eval mode). The denoiser is {words}. {psnr_table(m['sigma'])}")
    links = (*stage_numbers(stage, out, "denoise"), write_csv(out, "denoise-psnr.csv", ["sigma", "psnr", "psnr_input"], psnr_rows(m["sigma"])))
    return Section("denoise", "Denoising held-out images", "", (Figure(src, "Denoising examples", caption, ok, DENOISES, links=links),) if src else ())


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


def stage_numbers(st: Stage, out: Path, prefix: str) -> tuple[tuple[str, str], ...]:
    """A stage's metrics.json, copied into the report: the numbers behind every figure of it."""
    saved = copy_numbers(st, OUT_METRICS, out, prefix)
    return (saved,) if saved else ()


ASSESSMENT = ("median over targets: guided", "unguided", "random images", "targets where guided is closer than both")


def assessment_figure(st: Stage, out: Path, i: int) -> Figure | None:
    """Issue 26's table: each measure of the φ-guided samples beside unguided samples and random images (the chance level)."""
    a = st.metrics.get("assessment")
    if a is None:
        return None
    rows = [[name, v["median"]["guided"], v["median"]["unguided"], v["median"]["random"], v["guided_closer_than_both"]]
            for name, v in a["measures"].items()]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("measure", *ASSESSMENT))
    body = "".join(f"<tr><th>{html.escape(r[0])}</th>{''.join(f'<td>{fmt(v, 3)}</td>' for v in r[1:4])}<td>{r[4]:.0%}</td></tr>" for r in rows)
    spread = a["spread"]
    csv_link = write_csv(out, f"reconstruct{i}-assessment.csv", ["measure", "guided_median", "unguided_median", "random_median",
                                                                  "guided_closer_than_both"], rows)
    return Figure(None, "Reconstructions against chance (issue 26)",
                  f"{a['targets']} targets × {a['per_target']} guided samples, beside {a['unguided']} unguided samples and {a['random']} "
                  f"random images measured against the same targets. Samples' pairwise RMS {fmt(spread.get('samples_pairwise_rms_median'), 3)} "
                  f"vs unguided {fmt(spread['unguided_pairwise_rms'], 3)}. <table class=\"numbers\"><tr>{head}</tr>{body}</table>",
                  links=(*stage_numbers(st, out, f"reconstruct{i}"), csv_link))


def panels_figure(st: Stage, out: Path, i: int) -> Figure | None:
    """Fig. 7's layout: each target framed at the centre of its samples."""
    src = copy_figure(st, "panels.png", out, f"reconstruct{i}")
    return None if src is None else Figure(src, "Samples around their targets (fig. 7 panels)", "Each target (framed, at the centre) "
                                           "with its φ-guided samples around it.", links=stage_numbers(st, out, f"reconstruct{i}"))


def with_links(figures: list[Figure], links: tuple[tuple[str, str], ...]) -> list[Figure]:
    return [replace(f, links=f.links + links) for f in figures]


def sampling_section(inputs: Inputs, out: Path) -> Section:
    figures = [replace(samples_figure(st, out), links=stage_numbers(st, out, "samples")) for st in inputs.all("samples")]
    figures += [replace(inverse_figure(st, out, i), links=stage_numbers(st, out, f"inverse{i}")) for i, st in enumerate(inputs.all("inverse"))]
    for i, st in enumerate(inputs.all("reconstruct")):
        figures += with_links(reconstruct_figures(st, out, i), stage_numbers(st, out, f"reconstruct{i}"))
        figures += [f for f in [panels_figure(st, out, i)] if f is not None]
    for st in inputs.all("distance"):
        pairs = write_csv(out, "distance-pairs.csv", ["phi_distance2", "d2"], [list(r) for r in zip(st.metrics["phi_distance2"], st.metrics["d2"])])
        figures.append(replace(distance_figure(st, out), links=(*stage_numbers(st, out, "distance"), pairs)))
    tables = [f for i, st in enumerate(inputs.all("reconstruct")) if (f := assessment_figure(st, out, i)) is not None]
    return Section("sampling", "Sampling with the denoiser's prior", "", tuple(f for f in figures if f.src) + tuple(tables))


def jacobian_table(m: dict) -> tuple[list[str], list[list]]:
    header = ["sigma", "trace", "asymmetry", "homogeneity", "eigenvalue_min", "eigenvalue_max", "squared_error", "sigma2_trace",
              "psnr_noisy", "psnr_denoised"]
    return header, [[s["sigma"], s["trace"], s["asymmetry"], s["homogeneity"], *s["eigenvalue_range"], s["squared_error"], s["sigma2_trace"],
                     s["psnr_noisy"], s["psnr_denoised"]] for s in sorted(m["per_sigma"], key=lambda s: s["sigma"])]


def html_table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{format(v, '.4g') if isinstance(v, float) else html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="numbers"><tr>{head}</tr>{body}</table>'


def jacobian_section(st: Stage, out: Path) -> Section:
    """The 2023 paper's adaptive basis at one image: symmetric shrinkage, D(y) = ∇D(y)·y, tr J falling with σ."""
    m, records = st.metrics, jacobian_findings(st.metrics)
    header, rows = jacobian_table(m)
    links = (*stage_numbers(st, out, "jacobian"), write_csv(out, "jacobian.csv", header, rows))
    spectra, vectors = (copy_figure(st, name, out, "jacobian") for name in (SPECTRA, EIGENVECTORS))
    figures = (
        Figure(spectra, "Shrinkage factors and effective dimensionality (2023)", "Left: the eigenvalues of (J + Jᵀ)/2, sorted, per σ; "
               f"right: tr J against σ. {record_caption(records['shrinkage'])}", record=records["shrinkage"], links=links),
        Figure(None, "Effective dimensionality tr J (2023)", f"{record_caption(records['trace'])} {html_table(header, rows)}",
               record=records["trace"], links=links),
        Figure(None, "Local linearity D(y) = ∇D(y)·y (2023)", record_caption(records["homogeneity"]), record=records["homogeneity"], links=links),
        Figure(vectors, "The adaptive basis (2023)", "One row per σ: the noisy image y, D(y), then the top eigenvectors of (J + Jᵀ)/2 "
               "with their eigenvalues.", links=links),
    )
    intro = (f"The exact Jacobian J = ∇D(y) of the denoiser at image {m['image']} (n = {m['dimension']}), one noise draw per σ; "
             f"folder <code>{html.escape(str(st.path))}</code>.")
    return Section("jacobian", "The denoiser's adaptive basis (Kadkhodaie et al. 2023)", intro, tuple(f for f in figures if f.src or f.record))


def generalize_table(m: dict) -> tuple[list[str], list[list]]:
    sizes = sorted(m["sizes"], key=lambda s: s["n"])
    sigmas = list(sizes[0]["models"]["a"]["denoising"])
    header = ["n", "pair_cosine_median", "pair_psnr_median", "copies", "converged", "samples", *(f"gap_sigma_{s}" for s in sigmas)]
    rows = [[s["n"], s["pair"]["cosine_median"], s["pair"]["psnr_median"], sum(v["memorised"] for v in s["models"].values()),
             converged(s), sum(len(v["own"]["cosine"]) for v in s["models"].values()),
             *(float(np.mean([v["denoising"][g]["gap"] for v in s["models"].values()])) for g in sigmas)] for s in sizes]
    return header, rows


def generalize_section(st: Stage, out: Path) -> Section:
    """The 2023 paper's transition: memorisation at small N, the same density from disjoint sets at large N."""
    m = st.metrics
    record = generalize_finding(m)
    header, rows = generalize_table(m)
    links = (*stage_numbers(st, out, "generalize"), write_csv(out, "generalize.csv", header, rows))
    figures = [Figure(copy_figure(st, "generalize.png", out, "generalize"), "Memorisation → generalisation (2023)",
                      "Against the training-set size N: the cosine between the two models' samples (same start, same noise), each "
                      "sample's cosine to the nearest training image, and the train − held-out denoising PSNR gap per σ. "
                      f"{record_caption(record)} {html_table(header, rows)}", record=record, links=links)]
    figures += [Figure(copy_figure(st, f"pairs-{s['n']:06d}.png", out, "generalize"), f"Samples at N = {s['n']}",
                       "Rows: model a, model b (same start and noise), each sample's nearest image in its model's own training set.",
                       links=links) for s in sorted(m["sizes"], key=lambda s: s["n"])]
    intro = f"Two models per N trained on disjoint subsets of {html.escape(str(m.get('source')))}; {html.escape(m['copy_rule'])}."
    return Section("generalize", "Memorisation and generalisation (Kadkhodaie et al. 2023)", intro, tuple(f for f in figures if f.src or f.record))


def channel_numbers(st: Stage, out: Path) -> tuple[str, str] | None:
    """Every per-channel array of the analysis (selectivity PR, mean, …) as one CSV row per channel."""
    sel = st.arrays("selectivity")
    count = len(sel.get("channel_pr", ()))
    columns = [k for k, v in sel.items() if v.shape == (count,)]
    return write_csv(out, "channels.csv", ["channel", *columns], [[c, *(sel[k][c] for k in columns)] for c in range(count)]) if count else None


def analysis_with_numbers(st: Stage, out: Path) -> Section:
    """The analysis section (its figures and captions), each figure linked to the saved numbers and the per-channel table."""
    section = analysis_section(st, out)
    links = tuple(x for x in (copy_numbers(st, OUT_METRICS, out, "analysis"), channel_numbers(st, out)) if x)
    return replace(section, figures=tuple(with_links(list(section.figures), links + (("findings (CSV)", GLANCE_CSV),))))


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
    """The verdict's one-line reason under its badge (nothing for records of older analyses, nor where the badge already
    says why: too few to tell, too close to tell)."""
    return f'<div class="why">{html.escape(j["reason"])}</div>' if j.get("reason") and j["verdict"] not in (TOO_FEW, TIE) else ""


def image(f: Figure) -> str:
    """The figure, and the same PNG full size over the page when clicked (a CSS :target lightbox: a click, Back or Esc closes it)."""
    if f.src is None:
        return ""
    key, alt = "full-" + "".join(ch if ch.isalnum() else "-" for ch in f.src), html.escape(f.title)
    return (f'<a class="zoom" href="#{key}" title="open full size"><img src="{html.escape(f.src)}" alt="{alt}"></a>'
            f'<a class="lightbox" id="{key}" href="#_" title="close"><img src="{html.escape(f.src)}" alt="{alt} (full size)"></a>')


GLANCE_CSV, GLANCE_JSON = "numbers/glance.csv", "numbers/glance.json"


def links_html(links: tuple[tuple[str, str], ...], what: str = "Numbers") -> str:
    shown = " · ".join(f'<a href="{html.escape(href)}">{html.escape(label)}</a>' for label, href in links)
    return f' <span class="numbers-links">{what}: {shown}</span>' if shown else ""


def figure_html(anchor: str, f: Figure, chart: bool = True) -> str:
    """One figure: the interactive chart (its PNG kept as the fallback), its caption and verdict, and its numbers' links."""
    picture = f'{f.chart}<div class="fallback">{image(f)}</div>' if f.chart and chart else image(f)
    return (f'<figure id="{anchor}">{picture}<figcaption><b>{f.title}.</b> {badge(f)} {f.caption}{links_html(f.links)}{links_html(f.vectors, "Vector")}</figcaption>'
            "</figure>")


def section_body(sections: list[Section], runs: list[str], anchors: dict[int, str]) -> str:
    """One section of the page: as it is for one run; for several, a column per run (the same figure at the same place,
    an empty column where a run lacks the section) with the training chart overlaying every run's curves once above."""
    if not runs:
        (s,) = sections
        return "".join(figure_html(anchors[id(f)], f) for f in s.figures)
    by_run = {s.run: s for s in sections}
    charts = next((f.chart for s in sections for f in s.figures if f.chart), "")
    columns = "".join(
        f'<div class="run-column"><h3>{html.escape(r)}</h3>'
        + (f"<p>{by_run[r].intro}</p>" + "".join(figure_html(anchors[id(f)], f, chart=False) for f in by_run[r].figures)
           if r in by_run else '<p class="muted">not given for this run</p>') + "</div>" for r in runs)
    return f'{charts}<div class="runs" style="--runs: {len(runs)}">{columns}</div>'


def provenance_html(rows: list[dict]) -> str:
    """The provenance block: denoscope's version and the report's date, then each stage folder's command, time, host,
    checkpoint sha256 and data source ("not recorded" where an older denoscope did not write it)."""
    from .. import __version__

    keys = ("run", "kind", "path", "command", "written", "host", "denoscope", "sha256", "data")
    head = "".join(f"<th>{k}</th>" for k in keys if k != "run" or any(r["run"] for r in rows))
    body = "".join("<tr>" + "".join(f"<td><code>{html.escape(str(r[k]))}</code></td>" if k in ("path", "command", "sha256") else
                                     f"<td>{html.escape(str(r[k]))}</td>" for k in keys if k != "run" or any(x["run"] for x in rows)) + "</tr>"
                   for r in rows)
    return (f'<section id="provenance"><h2>Provenance</h2><p>denoscope {html.escape(__version__)}; report written '
            f'{time.strftime("%Y-%m-%d %H:%M:%S %Z")}.{links_html((("provenance.json", "numbers/provenance.json"),))}</p>'
            f'<div class="wide"><table class="numbers provenance"><tr>{head}</tr>{body}</table></div></section>')


def render(title: str, sections: list[Section], missing: list[str], explorers: list[tuple[str, str]], provenance: list[dict] | None = None,
           curves: list[dict] | None = None) -> str:
    """The page: a verdict per finding at the top (per run when there are several), then each section's figures with
    their captions (side by side when several runs share it), what is missing, and where every folder came from."""
    runs = list(dict.fromkeys(s.run for s in sections if s.run))
    order = list(dict.fromkeys(s.anchor for s in sections))
    anchors = {id(f): f"{s.anchor}-{runs.index(s.run)}-{i}" if runs else f"{s.anchor}-{i}"
               for s in sections for i, f in enumerate(s.figures)}
    nav = "".join(f'<a href="#{a}">{html.escape(next(s.title for s in sections if s.anchor == a))}</a>' for a in order)
    nav += "".join(f'<a href="{href}">{html.escape(label)}</a>' for label, href in explorers)
    nav += '<a href="#provenance">Provenance</a>' if provenance is not None else ""
    tables = [(r, glance([(anchors[id(f)], f) for s in sections if s.run == r for f in s.figures])) for r in (runs or [""])]
    verdicts = "".join(f'<h3>{html.escape(r)}</h3>{t}' if runs else t for r, t in tables if t)  # one full-width table per run
    glance_links = links_html((("CSV", GLANCE_CSV), ("JSON", GLANCE_JSON)))
    body = [f'<section id="glance"><h2>At a glance</h2>{verdicts}<p>{glance_links}</p></section>'] if verdicts else []
    for a in order:
        group = [s for s in sections if s.anchor == a]
        intro = "" if runs else f"<p>{group[0].intro}</p>"
        body.append(f'<section id="{a}"><h2>{html.escape(group[0].title)}</h2>{intro}{section_body(group, runs, anchors)}</section>')
    items = "".join(f"<li>{html.escape(x)}</li>" for x in missing) or "<li>nothing: every stage was given</li>"
    body.append(f'<section id="missing"><h2>Not computed</h2><ul class="missing">{items}</ul></section>')
    body += [provenance_html(provenance)] if provenance is not None else []
    data = json.dumps(curves or []).replace("</", "<\\/")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<link rel="stylesheet" href="assets/style.css"><link rel="stylesheet" href="assets/report.css"><style>{FINDINGS_STYLE}</style>'
            f'<script src="assets/report.js" defer></script></head><body><nav>{nav}</nav><h1>{html.escape(title)}</h1>'
            + "".join(body) + f'<script type="application/json" id="denoscope-curves">{data}</script></body></html>\n')


def check_out(out: Path) -> None:
    """The output folder may be new, empty, or an earlier report (replaced whole); anything else is refused."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARK).exists())):
        raise OutputError(f"{out} exists and is not an earlier denoscope report; give a new or empty folder to --out")
    check_writable(out.parent if not out.exists() else out, "report folder")


def check_run(path: str | Path) -> None:
    """The folder given as the run: a training run with its weights, else one sentence saying what it is instead."""
    stage = recognise(Path(path))
    if stage.kind != "run":
        raise DataError(f"{path} is a {stage.kind} folder, not a training run; give the run folder (the one `train --out` wrote) first")
    if not (stage.path / WEIGHTS).is_file():
        raise DataError(f"{path} has no {WEIGHTS}: training did not finish there; give a run folder with weights (or resume its training)")


def data_source(stage: Stage) -> str:
    """Where a stage's images came from, as it recorded it."""
    if stage.kind == "run":
        return str(tomllib.loads((stage.path / "config.toml").read_text()).get("train", {}).get("data", "not recorded"))
    return str(stage.metrics.get("source", "—"))


def checkpoint_sha256(stage: Stage) -> str:
    """The sha256 of the weights a run holds, or that a REP recorded for the model it was extracted with."""
    if stage.kind == "run":
        return file_hash(stage.path / WEIGHTS) if (stage.path / WEIGHTS).is_file() else "no weights"
    return (stage.metrics.get("model", {}).get("sha256") if stage.kind == "rep" else None) or "—"


def provenance_of(run: str, stage: Stage) -> dict:
    """One row of the provenance block: what stage.json records of the folder's writing, and its model and data."""
    marker = read_json(stage.path / MARKER) if (stage.path / MARKER).is_file() else {}
    argv = marker.get("argv")
    return {"run": run, "kind": stage.kind, "path": str(stage.path.resolve()), "command": " ".join(argv) if argv else "not recorded",
            "written": marker.get("time") or "not recorded", "host": marker.get("host") or "not recorded",
            "denoscope": marker.get("denoscope") or "not recorded", "sha256": checkpoint_sha256(stage), "data": data_source(stage)}


def write_glance(out: Path, sections: list[Section]) -> None:
    """The at-a-glance table as CSV (one row per finding per run) and JSON (the whole records)."""
    records = [(s.run, f.record) for s in sections for f in s.figures if f.record is not None]
    rows = [[run, r["figure"], r["statement"], r["statistic"], r["ours"], verdict_text(r), r["stricter"]["check"], r["stricter"]["ours"],
             verdict_text(r["stricter"])] for run, r in records]
    write_csv(out, Path(GLANCE_CSV).name, ["run", "figure", "statement", "statistic", "ours", "verdict", "stricter_check", "stricter_ours",
                                           "stricter_verdict"], rows)
    write_json(out / GLANCE_JSON, [{"run": run, **r} for run, r in records])


def relocated(section: Section, folder: str, run: str) -> Section:
    """A run's section built into OUT/FOLDER/: its figures' and numbers' paths from the report's root, its run named."""
    moved = lambda p: p if p is None or p.startswith("numbers/glance") else f"{folder}/{p}"  # noqa: E731
    return replace(section, run=run, figures=tuple(replace(f, src=moved(f.src), links=tuple((k, moved(v)) for k, v in f.links))
                                                   for f in section.figures))


def runs_sections(groups: list[tuple[str, Inputs]], out: Path) -> list[Section]:
    """Every run's sections: as today for one run; for several, each run's built into OUT/runs/K/ and named."""
    if len(groups) == 1:
        return sections_of(groups[0][1], out)
    return [relocated(s, f"runs/{k}", name) for k, (name, inputs) in enumerate(groups) for s in sections_of(inputs, out / "runs" / str(k))]


def build_report(folders: list[str | Path], out: str | Path, title: str | None = None, progress: bool = False, map_method: str = "pca") -> Path:
    """Write OUT/index.html of the saved stage `folders` (and the explorer of each run given a REP and its analysis);
    returns the index page. Folders of several runs are grouped by run and shown side by side, each run's explorer in
    OUT/runs/K/, its map of φ made by `map_method` (analysis.embedding.METHODS). Needs nothing but the folders: a
    notebook calls it as the CLI does."""
    from ..analysis.embedding import check_method

    check_method(map_method)
    groups = grouped(folders)
    for _, inputs in groups:
        for run in inputs.all("run"):
            check_run(run.path)
    out = Path(out)
    check_out(out)
    with stage_bar("report", 3, progress) as update:
        update(status="thumbnails")
        explorers = [(name, inputs, explorer_data(inputs, map_method)) for name, inputs in groups]
        update(advance=1, status="figures and captions")
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            ensure_dir(tmp / "figures")
            sections = [with_vectors(s, tmp) for s in runs_sections(groups, tmp)]
            missing = [f"{name}: {x}" if name else x for name, inputs in groups for x in not_computed(inputs)]
            update(advance=1, status="explorer")
            links = []
            for k, (name, inputs, explorer) in enumerate(explorers):
                if isinstance(explorer, str):
                    missing.append(f"{name}: explorer: {explorer}" if name else f"explorer: {explorer}")
                    continue
                folder, report = (tmp, "index.html") if len(groups) == 1 else (tmp / "runs" / str(k), "../../index.html")
                by_image, by_cluster = reconstruction_images(inputs, folder, explorer)
                page = write_explorer(folder, replace(explorer, reconstructions=by_image, centroid_reconstructions=by_cluster), report)
                links.append((f"Explorer: {name}" if name else "Explorer", page.relative_to(tmp).as_posix()))
            copy_static(tmp, ASSETS)
            write_glance(tmp, sections)
            provenance = [provenance_of(name, st) for name, inputs in groups for kind in STAGES for st in inputs.all(kind)]
            write_json(tmp / "numbers/provenance.json", provenance)
            curves = [{"run": name or inputs.one("run").path.name, **curves_of(inputs.one("run"))} for name, inputs in groups if inputs.one("run")]
            run = groups[0][1].one("run")
            name = title or (f"denoscope report: {', '.join(n for n, _ in groups)}" if len(groups) > 1 else
                             f"denoscope report: {run.path.name if run else Path(folders[0]).name}")
            write_text(tmp / "index.html", render(name, sections, missing, links, provenance, curves))
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
        ("analysis", lambda: analysis_with_numbers(inputs.one("analysis"), out)),
        ("samples", lambda: sampling_section(inputs, out)),
        ("jacobian", lambda: jacobian_section(inputs.one("jacobian"), out)),
        ("generalize", lambda: generalize_section(inputs.one("generalize"), out)),
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


def explorer_data(inputs: Inputs, map_method: str = "pca") -> ExplorerData | str:
    """The explorer's arrays from the REP and analysis folders (and the 2-D map of φ by `map_method`, computed here from
    the REP's φ), or the reason it cannot be built."""
    from ..analysis.embedding import phi_map
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
    phi = np.asarray(rep.phi(m["sigma"]), dtype=np.float32)
    two_d = phi_map(phi, map_method, seed=rep.manifest["seed"]) if min(phi.shape) >= 4 else None
    missing += [] if two_d is not None else [f"map of φ: {len(phi)} images of {phi.shape[1]} channels are too few to map"]
    maps = rep.manifest.get("maps")
    return ExplorerData(
        phi=phi, title=f"φ of {rep.n} images of {rep.manifest['source']}",
        rep=rep.path, source=rep.manifest["source"], sigma=float(m["sigma"]), channel_pr=sel["channel_pr"], channel_mean=sel["channel_mean"], channel_top=sel["channel_top"],
        channel_top_values=sel["channel_top_values"], selectivity_split=m["selectivity"].get("gmm_split"), thumbnails=thumbs,
        labels=None if labels is None else np.asarray(labels, dtype=np.int16), class_names=rep.class_names,
        assignment=None if first is None else clusters[first], cluster_k=None if first is None else int(first[1:].split("/")[0]),
        neighbours=table, not_computed=missing, phi_map=two_d, maps=rep.maps(), maps_sigma=None if maps is None else maps["sigma"])


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
