"""The report and the explorer's files: built from the quick demo's saved folders, read back against those folders."""

import base64
import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from denoscope.analysis.neighbours import neighbour_table
from denoscope.analysis.selectivity import channel_top_images
from denoscope.cli import app
from denoscope.errors import DataError, OutputError
from denoscope.reporting.build import build_report
from denoscope.reporting.explorer import COLUMNS, PER_SHEET, TILE, write_sprites
from denoscope.representation import Representation

STAGES = ("run", "rep", "denoise", "analysis", "samples", "reconstruct", "reconstruct-clusters")


def decode(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<"))


def test_channel_top_images_are_each_columns_largest_in_order():
    phi = np.random.default_rng(0).random((50, 7))
    ids, values = channel_top_images(phi, 5)
    assert ids.shape == (7, 5)
    for c in range(7):
        assert ids[c].tolist() == np.argsort(-phi[:, c])[:5].tolist()
        assert np.array_equal(values[c], phi[ids[c], c])
    assert channel_top_images(phi, 80)[0].shape == (7, 50)  # k above N: every image


def test_neighbour_table_matches_brute_force_cosine():
    rng = np.random.default_rng(1)
    phi, pixels = rng.random((40, 6)), rng.random((40, 12))
    table = neighbour_table(phi, pixels, k=4)
    for x, key, cosine in ((phi, "neighbours", "cosine"), (pixels, "pixel_neighbours", "pixel_cosine")):
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        cos = unit @ unit.T
        np.fill_diagonal(cos, -np.inf)
        assert table[key].tolist() == np.argsort(-cos, axis=1)[:, :4].tolist()
        assert np.allclose(table[cosine], np.take_along_axis(cos, table[key], 1), atol=1e-6)


def test_sprite_sheets_place_image_i_where_the_explorer_looks(tmp_path):
    n = PER_SHEET + 70
    tiles = np.random.default_rng(2).integers(0, 256, (n, TILE, TILE, 3), dtype=np.uint8)
    names = write_sprites(tiles, tmp_path)
    assert names == ["data/sprites/sheet-000.png", "data/sprites/sheet-001.png"]
    for i in (0, 1, COLUMNS, PER_SHEET - 1, PER_SHEET, n - 1):
        sheet = np.asarray(Image.open(tmp_path / names[i // PER_SHEET].split("/")[-1]))
        j = i % PER_SHEET
        x, y = (j % COLUMNS) * TILE, (j // COLUMNS) * TILE
        assert np.array_equal(sheet[y : y + TILE, x : x + TILE], tiles[i]), i


@pytest.fixture(scope="module")
def report(demo_out):
    return demo_out[0] / "report"


def test_report_captions_carry_the_saved_numbers_and_list_what_is_missing(demo_out, report):
    out = demo_out[0]
    page = (report / "index.html").read_text()
    denoise = json.loads((out / "denoise/metrics.json").read_text())
    for sigma, v in denoise["sigma"].items():
        assert f"{v['psnr']:.2f} / {v['psnr_input']:.2f}" in page, sigma
    analysis = json.loads((out / "analysis/metrics.json").read_text())
    glance = page[page.index('id="glance"') : page.index("</section>")]
    for name, f in analysis["findings"].items():
        for text in (f["statement"], f["ours"], f["stricter"]["ours"]):
            assert html.escape(text) in glance and html.escape(text) in page.split("</section>", 1)[1], name  # table and caption
    table = glance[: glance.index("</table>")]
    assert table.count("<tr>") - 1 >= len(analysis["findings"]) + 1  # and fig. 20's, from each reconstruction
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (report / src).is_file(), src
    assert "inverse: no inverse folder was given" in page and "distance: no distance folder was given" in page
    assert "Explorer" in page and (report / "explorer.html").exists()


def test_explorer_data_reads_back_as_the_saved_arrays(demo_out, report):
    out = demo_out[0]
    text = (report / "data/meta.js").read_text()
    meta = json.loads(text[len("window.DENOSCOPE_META = ") : text.rindex(";")])
    rep = Representation(out / "rep")
    analysis = json.loads((out / "analysis/metrics.json").read_text())
    phi = rep.phi(analysis["sigma"])
    assert (meta["n"], meta["channels"]) == phi.shape
    assert np.array_equal(decode(meta["labels"], "i2"), rep.labels)
    with np.load(out / "analysis/clusters.npz") as z:
        assert np.array_equal(decode(meta["clusters"]["assignment"], "i2"), z["k8__assignment"])
    rows = []
    for i in range(meta["chunks"]):
        body = (report / f"data/chunk-{i:05d}.js").read_text()
        assert body.startswith(f"DENOSCOPE_CHUNK({i}, ")
        chunk = json.loads(body[len(f"DENOSCOPE_CHUNK({i}, ") : body.rindex(")")])
        rows.append(decode(chunk["phi"], "f4").reshape(-1, meta["channels"]))
        if i == 0:
            with np.load(out / "analysis/neighbour_table.npz") as z:
                assert np.array_equal(decode(chunk["neighbours"], "i4").reshape(-1, meta["k"]), z["neighbours"][: meta["chunk_size"]])
    assert np.array_equal(np.concatenate(rows), phi.astype(np.float32))
    with np.load(out / "analysis/selectivity.npz") as z:
        assert np.allclose(meta["channel"]["mean"], z["channel_mean"])
    first = meta["channel"]["top"][0]
    assert first == np.argsort(-phi[:, 0], kind="stable")[: len(first)].tolist()
    # the demo reconstructs held-out image 0 and the centroid of cluster 0: both linked, their PNGs present
    assert "0" in meta["reconstructions"] and "0" in meta["clusters"]["centroid_reconstructions"]
    for entry in meta["reconstructions"]["0"] + meta["clusters"]["centroid_reconstructions"]["0"]:
        assert (report / entry["src"]).is_file()
    sheet = np.asarray(Image.open(report / meta["sprite"]["sheets"][0]))
    from denoscope.data import open_source

    assert np.array_equal(sheet[:TILE, TILE : 2 * TILE], open_source(rep.manifest["source"])[1])


def test_bad_report_inputs_are_one_sentence_and_leave_nothing(demo_out, tmp_path):
    out = demo_out[0]
    runner = CliRunner()
    (tmp_path / "empty").mkdir()
    for args, words in (
        ([out / "run", tmp_path / "nothing"], "is not a folder"),
        ([out / "run", tmp_path / "empty"], "expected a denoscope stage output folder"),
        ([out / "run", out / "analysis", out / "analysis"], "two analysis folders"),
    ):
        done = runner.invoke(app, ["report", *map(str, args), "--out", str(tmp_path / "r")])
        assert done.exit_code == 1 and "Traceback" not in done.output, done.output
        assert words in done.output, done.output
        assert not (tmp_path / "r").exists()
    shutil.copytree(out / "denoise", tmp_path / "old-denoise")
    metrics = json.loads((tmp_path / "old-denoise" / "metrics.json").read_text())
    (tmp_path / "old-denoise" / "metrics.json").write_text(json.dumps({k: v for k, v in metrics.items() if k != "sigma"}))
    done = runner.invoke(app, ["report", str(out / "run"), str(tmp_path / "old-denoise"), "--out", str(tmp_path / "r")])
    assert done.exit_code == 1 and "Traceback" not in done.output and "lack 'sigma'" in done.output, done.output
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob(".r.tmp-*"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="not an earlier denoscope report"):
        build_report([out / "run"], tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_a_report_replaces_an_earlier_one_whole(demo_out, tmp_path):
    out = demo_out[0]
    index = build_report([str(out / s) for s in STAGES], str(tmp_path / "r"))  # from Python, plain strings: no CLI state
    assert index == tmp_path / "r" / "index.html" and index.is_file()
    assert (tmp_path / "r" / "data" / "meta.js").exists()
    build_report([out / "run", out / "denoise"], tmp_path / "r")
    assert not (tmp_path / "r" / "data").exists()  # no explorer without REP and analysis: nothing stale left
    assert "explorer: needs both a REP folder and its analysis folder" in (tmp_path / "r" / "index.html").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no temporary folder left


def test_an_analysis_of_another_rep_is_refused(demo_out, tmp_path):
    out = demo_out[0]
    manifest = json.loads((out / "rep/manifest.json").read_text())
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "manifest.json").write_text(json.dumps({**manifest, "images": manifest["images"] + 1}))
    with pytest.raises(DataError):
        build_report([out / "run", tmp_path / "rep", out / "analysis"], tmp_path / "r")
    assert not (tmp_path / "r").exists()


def skewed_sparsity_metrics() -> dict:
    """Analyse metrics whose per-image PRs have a median far from their mean (0.100 vs 0.420 at mid's output)."""
    from denoscope.analysis.sparsity import sparsity

    rng = np.random.default_rng(0)
    means = {}
    for b, pr_in in (("enc2", 0.05), ("mid", 0.5)):
        prs = [0.1] * 12 + [0.9] * 8 if b == "mid" else [0.2] * 12 + [1.0] * 8
        out = np.zeros((20, 1, 20))
        for i, p in enumerate(prs):
            out[i, 0, rng.choice(20, round(p * 20), replace=False)] = 1.0
        means[b], means[f"{b}.in"] = out, np.where(np.arange(20) < round(pr_in * 20), 1.0, 0.0)[None, None].repeat(20, 0)
    return {"images": 20, "sparsity": sparsity(means, np.array([0.5]), 0.5)[0]}


def test_the_sparsity_caption_and_glance_row_show_the_median_pr_not_the_mean():
    from denoscope.analysis.findings import sparsity_finding
    from denoscope.reporting.build import Figure, Section, record_caption, render

    m = skewed_sparsity_metrics()
    assert m["sparsity"]["pr_median"]["mid"] == pytest.approx(0.1) and m["sparsity"]["pr_mean"]["mid"] == pytest.approx(0.42)
    record = sparsity_finding(m)
    caption = record_caption(record)
    assert "mid 0.500 → 0.100" in caption and "enc2 0.050 → 0.200" in caption and "0.420" not in caption
    page = render("t", [Section("analysis", "A", "", (Figure("x.png", "Sparsity", caption, record=record),))], [], [])
    glance = page[page.index('id="glance"') : page.index('id="analysis"')]
    assert "mid 0.500 → 0.100" in glance and "0.420" not in glance and "partly (2 of 3)" in glance


def test_the_distance_caption_prints_a_as_a_and_b_as_b_as_bounds():
    from denoscope.reporting.build import distance_figure
    from denoscope.reporting.inputs import Stage
    from denoscope.sampling.distance import euclidean_embedding

    phi2 = np.array([1.0, 2.0, 4.0, 5.0, 8.0, 10.0])
    d2 = phi2 * np.array([3.0, 2.0, 4.0, 2.5, 7.0, 3.0])  # A = 2, B = 7
    m = {"d2": d2.tolist(), "phi_distance2": phi2.tolist(), **euclidean_embedding(phi2, d2), "paper_B_over_A": 2.9, "note": "n"}
    caption = distance_figure(Stage("distance", Path("/nonexistent"), m), Path("/nonexistent")).caption
    assert "A = 2, B = 7" in caption and "B/A = 3.5" in caption
    assert "A‖Δφ‖² ≤ d² ≤ B‖Δφ‖²" in caption and "A + B" not in caption


def test_the_neighbours_caption_gives_phis_agreement_as_phis_and_pixels_as_pixels():
    from denoscope.analysis.findings import neighbours_finding
    from denoscope.reporting.build import record_caption

    every = {"images": 100, "k": 8, "label_agreement": 0.71, "pixel_label_agreement": 0.23, "chance": 0.1, "lead_interval": [0.4, 0.5]}
    caption = record_caption(neighbours_finding({"neighbours": {"every_image": every}}))
    assert "φ 0.710 vs pixels 0.230 (chance 0.100" in caption and "— holds" in caption


def numbers_links(page: str) -> list[str]:
    return re.findall(r'<a href="(numbers/[^"]+|runs/\d+/numbers/[^"]+)"', page)


def test_every_figure_links_its_numbers_and_the_csvs_hold_the_numbers_shown(demo_out, report):
    import csv

    out = demo_out[0]
    page = (report / "index.html").read_text()
    links = numbers_links(page)
    assert links and all((report / href).is_file() for href in links), [h for h in links if not (report / h).is_file()]
    for figure in re.findall(r"<figure id=\"(?:training|denoise|analysis|sampling)[^\"]*\">.*?</figure>", page, re.S):
        assert "Numbers: " in figure, figure[:200]  # every figure of these sections links the numbers behind it
    denoise = json.loads((out / "denoise/metrics.json").read_text())
    assert json.loads((report / "numbers/denoise-metrics.json").read_text()) == denoise
    rows = list(csv.DictReader((report / "numbers/denoise-psnr.csv").open()))
    assert [r["sigma"] for r in rows] == list(denoise["sigma"])
    for r in rows:
        v = denoise["sigma"][r["sigma"]]
        assert float(r["psnr"]) == v["psnr"] and float(r["psnr_input"]) == v["psnr_input"]
        assert f"{float(r['psnr']):.2f} / {float(r['psnr_input']):.2f}" in page
    loss = list(csv.DictReader((report / "numbers/training-loss.csv").open()))
    logged = [json.loads(line) for line in (out / "run/metrics.jsonl").read_text().splitlines() if line.strip()]
    assert [(int(r["step"]), float(r["loss"])) for r in loss] == [(r["step"], r["loss"]) for r in logged if "loss" in r]
    with np.load(out / "analysis/selectivity.npz") as z:
        channels = list(csv.DictReader((report / "numbers/channels.csv").open()))
        assert len(channels) == len(z["channel_pr"])
        assert np.array_equal([float(r["channel_pr"]) for r in channels], z["channel_pr"], equal_nan=True)
        assert np.array_equal([float(r["channel_mean"]) for r in channels], z["channel_mean"], equal_nan=True)
    findings = json.loads((out / "analysis/metrics.json").read_text())["findings"]
    glance = list(csv.DictReader((report / "numbers/glance.csv").open()))
    records = json.loads((report / "numbers/glance.json").read_text())
    assert len(glance) == len(records) == page[: page.index("</table>")].count("<tr>") - 1
    for f in findings.values():
        row = next(r for r in glance if r["statement"] == f["statement"])
        assert row["ours"] == f["ours"] and row["stricter_ours"] == f["stricter"]["ours"]
        assert html.escape(row["verdict"]) in page


def test_the_training_curves_are_embedded_for_the_chart(demo_out, report):
    page = (report / "index.html").read_text()
    curves = json.loads(re.search(r'<script type="application/json" id="denoscope-curves">(.*?)</script>', page, re.S)[1])
    logged = [json.loads(line) for line in (demo_out[0] / "run/metrics.jsonl").read_text().splitlines() if line.strip()]
    (run,) = curves
    assert run["loss"] == [[r["step"], r["loss"]] for r in logged if "loss" in r]
    evals = [r for r in logged if "psnr" in r]
    assert run["sigmas"] == list(evals[0]["psnr"]) and run["psnr_input"] == evals[-1]["psnr_input"]
    assert all(run["psnr"][s] == [[r["step"], r["psnr"][s]] for r in evals] for s in run["sigmas"])
    assert 'data-chart="loss"' in page and 'src="assets/report.js"' in page and (report / "assets/report.js").is_file()
    assert re.search(r'class="fallback"><a class="zoom"[^>]*><img src="figures/training.png"', page)  # the PNG stays, for a browser without scripts
    assert "scroll-margin-top" in (report / "assets/report.css").read_text()


def test_stage_json_records_the_command_line_time_and_host(tmp_path, monkeypatch):
    import socket
    import sys

    from denoscope.io import write_marker

    monkeypatch.setattr(sys, "argv", ["/venv/bin/denoscope", "denoise", "--model", "m", "--out", "x"])
    write_marker(tmp_path / "a", "denoise")
    marker = json.loads((tmp_path / "a" / "stage.json").read_text())
    assert marker["argv"] == ["denoscope", "denoise", "--model", "m", "--out", "x"] and marker["stage"] == "denoise"
    assert marker["host"] == socket.gethostname() and marker["time"][:4].isdigit()
    monkeypatch.setattr(sys, "argv", ["/x/site-packages/denoscope/__main__.py", "train"])
    write_marker(tmp_path / "b", "train")
    assert json.loads((tmp_path / "b" / "stage.json").read_text())["argv"] == ["denoscope", "train"]
    monkeypatch.setattr(sys, "argv", ["/venv/bin/pytest", "-q"])
    write_marker(tmp_path / "c", "train")
    assert json.loads((tmp_path / "c" / "stage.json").read_text())["argv"] is None  # a library call: no command line


def test_the_provenance_block_names_each_folders_command_and_the_checkpoint(demo_out, tmp_path):
    from denoscope import __version__
    from denoscope.checkpoint import file_hash

    out = demo_out[0]
    shutil.copytree(out / "denoise", tmp_path / "denoise")
    argv = ["denoscope", "denoise", "--model", str(out / "run"), "--out", str(tmp_path / "denoise")]
    (tmp_path / "denoise" / "stage.json").write_text(json.dumps({"stage": "denoise", "denoscope": "0.0.9", "argv": argv,
                                                                 "time": "2026-11-28T10:00:00+0000", "host": "gpu-7"}))
    shutil.copytree(out / "rep", tmp_path / "rep")
    (tmp_path / "rep" / "stage.json").write_text(json.dumps({"stage": "represent", "denoscope": "0.1.0"}))  # an older marker
    page = (build_report([out / "run", tmp_path / "rep", tmp_path / "denoise"], tmp_path / "r")).read_text()
    block = page[page.index('id="provenance"') :]
    assert f"denoscope {__version__}" in block
    assert html.escape(" ".join(argv)) in block and "2026-11-28T10:00:00+0000" in block and "gpu-7" in block and "0.0.9" in block
    assert block.count("not recorded") >= 3  # the old REP marker: no command, time or host
    rows = json.loads((tmp_path / "r" / "numbers/provenance.json").read_text())
    run = next(r for r in rows if r["kind"] == "run")
    assert run["sha256"] == file_hash(out / "run" / "model.safetensors") and run["sha256"] in block
    rep = next(r for r in rows if r["kind"] == "rep")
    assert rep["sha256"] == run["sha256"] and rep["data"] == json.loads((out / "rep/manifest.json").read_text())["source"]
    assert html.escape(run["data"]) in block and next(r for r in rows if r["kind"] == "denoise")["command"] == " ".join(argv)


def test_a_rep_given_as_the_run_or_a_run_without_weights_is_one_sentence(demo_out, tmp_path):
    out = demo_out[0]
    runner = CliRunner()
    done = runner.invoke(app, ["report", str(out / "rep"), str(out / "analysis"), "--out", str(tmp_path / "r")])
    assert done.exit_code == 1 and "Traceback" not in done.output and "is a rep folder, not a training run" in done.output, done.output
    shutil.copytree(out / "run", tmp_path / "run", ignore=shutil.ignore_patterns("*.safetensors"))
    for args in ([tmp_path / "run"], [out / "run", tmp_path / "run"]):
        done = runner.invoke(app, ["report", *map(str, args), "--out", str(tmp_path / "r")])
        assert done.exit_code == 1 and "Traceback" not in done.output and "has no model.safetensors" in done.output, done.output
    assert not (tmp_path / "r").exists()


def test_two_runs_are_shown_side_by_side_grouped_by_what_each_folder_records(demo_out, tmp_path):
    out = demo_out[0]
    other = tmp_path / "other" / "run"
    shutil.copytree(out / "run", other)
    logged = [json.loads(line) for line in (other / "metrics.jsonl").read_text().splitlines() if line.strip()]
    (other / "metrics.jsonl").write_text("".join(json.dumps({**r, "loss": 2 * r["loss"]} if "loss" in r else r) + "\n" for r in logged))
    # the REP and analysis record run A's model, so they join run A though they are given after run B
    index = build_report([out / "run", out / "denoise", other, out / "rep", out / "analysis"], tmp_path / "r")
    page = index.read_text()
    assert page.count('<div class="runs" style="--runs: 2">') == 3  # training, denoise, analysis
    training = page[page.index('<section id="training">') : page.index('<section id="denoise">')]
    assert training.count('<div class="run-column">') == 2 and "<h3>demo/run</h3>" in training and "<h3>other/run</h3>" in training
    assert training.count('data-chart="loss"') == 1  # one chart, both runs' curves overlaid
    analysis = page[page.index('<section id="analysis">') :]
    columns = analysis[: analysis.index("</section>")].split('<div class="run-column">')[1:]
    assert "<h3>demo/run</h3>" in columns[0] and "analysis-0-0" in columns[0]
    assert "<h3>other/run</h3>" in columns[1] and "not given for this run" in columns[1]
    glance = page[page.index('id="glance"') : page.index('<section id="training">')]
    assert glance.index("<h3>demo/run</h3>") < glance.index('href="#analysis-0-') < glance.index("<h3>other/run</h3>")
    curves = json.loads(re.search(r'id="denoscope-curves">(.*?)</script>', page, re.S)[1])
    assert [c["run"] for c in curves] == ["demo/run", "other/run"]
    assert [p[1] for p in curves[1]["loss"]] == [2 * p[1] for p in curves[0]["loss"]]
    for src in re.findall(r'<img src="([^"]+)"', page) + numbers_links(page):
        assert (tmp_path / "r" / src).is_file(), src
    assert "runs/0/figures/training.png" in page and "runs/1/figures/training.png" in page
    rows = json.loads((tmp_path / "r" / "numbers/provenance.json").read_text())
    assert sorted((r["run"], r["kind"]) for r in rows) == [("demo/run", k) for k in ("analysis", "denoise", "rep", "run")] + [("other/run", "run")]
    assert 'href="runs/0/explorer.html">Explorer: demo/run</a>' in page  # the REP and its analysis in one run: its explorer
    assert '"report": "../../index.html"' in (tmp_path / "r" / "runs/0/data/meta.js").read_text()
    assert not (tmp_path / "r" / "explorer.html").exists() and "<li>other/run: explorer: needs both a REP folder" in page
    one = build_report([out / "run", out / "denoise"], tmp_path / "one").read_text()
    assert 'class="runs"' not in one and 'id="training-0"' in one  # one run keeps today's page
    assert all((tmp_path / "one" / "assets" / name).is_file() for name in ("style.css", "report.css", "report.js"))  # styled without an explorer


def test_each_rep_of_several_gets_its_own_explorer_with_its_own_phi_and_a_way_back(demo_out, tmp_path):
    out = demo_out[0]
    shutil.copytree(out / "rep", tmp_path / "rep2")
    shutil.copytree(out / "analysis", tmp_path / "analysis2")
    mid = tmp_path / "rep2" / "means" / "mid.npy"
    np.save(mid, 2 * np.load(mid))
    metrics = json.loads((tmp_path / "analysis2" / "metrics.json").read_text())
    (tmp_path / "analysis2" / "metrics.json").write_text(json.dumps({**metrics, "rep": str(tmp_path / "rep2")}))
    page = build_report([out / "run", out / "rep", out / "analysis", tmp_path / "rep2", tmp_path / "analysis2"], tmp_path / "r").read_text()
    nav = page[page.index("<nav>") : page.index("</nav>")]
    assert re.findall(r'href="(runs/\d/explorer.html)">Explorer: ', nav) == ["runs/0/explorer.html", "runs/1/explorer.html"]

    def phi(k):
        text = (tmp_path / "r" / f"runs/{k}/data/chunk-00000.js").read_text()
        return np.frombuffer(base64.b64decode(json.loads(text[text.index(",") + 1 : text.rindex(")")])["phi"]), "<f4")

    assert np.array_equal(phi(1), 2 * phi(0)) and phi(0).any()
    for k in (0, 1):
        assert '"report": "../../index.html"' in (tmp_path / "r" / f"runs/{k}/data/meta.js").read_text()
        assert all((tmp_path / "r" / f"runs/{k}" / f).is_file() for f in ("explorer.html", "assets/explorer.js", "assets/style.css"))


def test_the_explorers_map_is_the_one_asked_for_and_an_unknown_one_is_refused(demo_out, tmp_path):
    from denoscope.analysis.embedding import tsne_map

    out = demo_out[0]
    runner = CliRunner()
    done = runner.invoke(app, ["report", str(out / "run"), str(out / "rep"), str(out / "analysis"), "--out", str(tmp_path / "t"), "--map", "tsne"])
    assert done.exit_code == 0 and f"explorer: {tmp_path / 't' / 'explorer.html'}" in done.output.replace("\n", ""), done.output
    text = (tmp_path / "t" / "data" / "map.js").read_text()
    saved = json.loads(text[text.index("(") + 1 : text.rindex(")")])
    rep = Representation(out / "rep")
    sigma = json.loads((out / "analysis" / "metrics.json").read_text())["sigma"]
    expected = tsne_map(np.asarray(rep.phi(sigma), np.float32), seed=rep.manifest["seed"])["coords"]
    assert saved["method"] == "tsne" and np.allclose(np.frombuffer(base64.b64decode(saved["coords"]), "<f4").reshape(-1, 2), expected, atol=1e-4)
    done = runner.invoke(app, ["report", str(out / "run"), str(out / "rep"), str(out / "analysis"), "--out", str(tmp_path / "u"), "--map", "umap"])
    assert done.exit_code != 0 and "Traceback" not in done.output and "one of pca, tsne, not 'umap'" in done.output, done.output
    assert not (tmp_path / "u").exists()


def planted_jacobian(asymmetry: float, low: float, high: float, homogeneity: float, traces: list[float]) -> dict:
    sigmas = [0.05, 0.2, 0.5][: len(traces)]
    return {"image": 0, "seed": 0, "shape": [1, 8, 8], "dimension": 64, "top": 4, "sigmas": sigmas, "per_sigma": [
        {"sigma": s, "asymmetry": asymmetry, "homogeneity": homogeneity, "trace": t, "effective_dimension_fraction": t / 64,
         "squared_error": 1.0, "sigma2_trace": s * s * t, "error_over_sigma2_trace": 1 / (s * s * t), "psnr_noisy": 20.0,
         "psnr_denoised": 25.0, "eigenvalues_top": [high], "eigenvalue_range": [low, high]} for s, t in zip(sigmas, traces)]}


def planted_generalize(copies_small: int, copies_large: int, pair_small: float, pair_large: float, own_large: float, gap_large: float,
                       psnr_large: tuple[float, float] = (30.0, 20.0)) -> dict:
    """Two sizes; at N = 1000 the pair's and the nearest training image's PSNR are `psnr_large` (pair, own)."""
    def size(n, copies, pair, own, gap, psnr):
        model = {"own": {"cosine": [own] * 4, "psnr": [psnr[1]] * 4}, "memorised": copies, "denoising": {"0.1": {"gap": gap}, "0.4": {"gap": gap}}}
        return {"n": n, "steps": 10, "pair": {"cosine": [pair] * 4, "psnr": [psnr[0]] * 4, "cosine_median": pair, "psnr_median": psnr[0]},
                "models": {"a": model, "b": model}}

    return {"source": "synthetic:shapes", "copy_rule": "a copy: ≥ 25 dB to the nearest training image",
            "sizes": [size(1000, copies_large, pair_large, own_large, gap_large, psnr_large), size(1, copies_small, pair_small, 0.99, 8.0, (10.0, 30.0))]}


def test_the_2023_findings_follow_their_planted_numbers():
    from denoscope.analysis.findings import FAILS, HOLDS, PARTLY, TOO_FEW
    from denoscope.analysis.findings_2023 import generalize_finding, jacobian_findings

    good = jacobian_findings(planted_jacobian(0.003, 0.0, 0.98, 1e-7, [50.0, 30.0, 10.0]))
    assert {k: (f["verdict"], f["stricter"]["verdict"]) for k, f in good.items()} == {k: (HOLDS, HOLDS) for k in good}
    bad = jacobian_findings(planted_jacobian(0.45, -0.1, 1.3, 0.2, [10.0, 30.0, 20.0]))
    assert bad["shrinkage"]["verdict"] == bad["homogeneity"]["verdict"] == bad["trace"]["verdict"] == FAILS
    loose = jacobian_findings(planted_jacobian(0.05, -0.03, 1.02, 1e-3, [50.0, 60.0, 10.0]))  # within the claim, not the stricter tolerance
    assert [(f["verdict"], f["stricter"]["verdict"]) for f in loose.values()] == [(HOLDS, FAILS), (HOLDS, FAILS), (HOLDS, FAILS)]
    assert jacobian_findings(planted_jacobian(0.0, 0.0, 1.0, 0.0, [5.0]))["trace"]["verdict"] == TOO_FEW
    held = generalize_finding(planted_generalize(4, 0, 0.7, 0.97, 0.9, 0.1))  # unordered sizes: sorted by N inside
    assert (held["verdict"], held["stricter"]["verdict"]) == (HOLDS, HOLDS)
    assert "N = 1: 100% copies" in held["ours"] and "0.700 (N = 1) → 0.970 (N = 1000)" in held["ours"]
    never = generalize_finding(planted_generalize(0, 0, 0.76, 0.95, 0.97, 1.0, psnr_large=(11.0, 14.0)))  # issue 24's w8 run: no copies at N = 1
    assert (never["verdict"], never["k"], never["stricter"]["verdict"]) == (PARTLY, 2, FAILS)
    assert generalize_finding(planted_generalize(0, 4, 0.9, 0.8, 0.99, 5.0))["verdict"] == FAILS
    split = generalize_finding(planted_generalize(4, 0, 0.7, 0.95, 0.96, 0.1, psnr_large=(18.6, 18.1)))  # this session's w8 run
    assert [p["holds"] for p in split["stricter"]["parts"]] == [False, True, True] and split["stricter"]["verdict"] == PARTLY
    assert "a vs b 18.6 dB vs sample to nearest training image 18.1 dB" in split["stricter"]["ours"]


def test_jacobian_and_generalize_folders_get_sections_with_their_verdicts(demo_out, tmp_path):
    out = demo_out[0]
    for name, stage, metrics in (("jac", "jacobian", planted_jacobian(0.003, 0.0, 0.98, 0.2, [50.0, 30.0, 10.0])),
                                 ("gen", "generalize", planted_generalize(4, 0, 0.7, 0.97, 0.9, 0.1))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "stage.json").write_text(json.dumps({"stage": stage}))
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    page = build_report([out / "run", tmp_path / "jac", tmp_path / "gen"], tmp_path / "r").read_text()
    glance = page[page.index('id="glance"') : page.index("</section>")]
    rows = re.findall(r'<tr><td><a href="#(jacobian|generalize)-\d+">([^<]+)</a>.*?<span class="(\w+)">', glance)
    assert [(a, b.split(", ")[1], c) for a, b, c in rows] == [
        ("jacobian", "adaptive basis", "holds"), ("jacobian", "effective dimensionality", "holds"),
        ("jacobian", "local linearity", "fails"), ("generalize", "memorisation → generalisation", "holds")]
    jac = page[page.index('<section id="jacobian">') : page.index('<section id="generalize">')]
    assert "tr J at the largest σ below tr J at the smallest" not in jac or "tr J 50.0 → 30.0 → 10.0" in jac
    assert "σ = 0.05: 0.2" in jac and "Kadkhodaie et al. 2023" in jac
    import csv

    table = list(csv.DictReader((tmp_path / "r" / "numbers/jacobian.csv").open()))
    assert [float(r["trace"]) for r in table] == [50.0, 30.0, 10.0]
    sizes = list(csv.DictReader((tmp_path / "r" / "numbers/generalize.csv").open()))
    assert [(int(r["n"]), int(r["copies"]), int(r["samples"])) for r in sizes] == [(1, 8, 8), (1000, 0, 8)]
    assert "jacobian: no jacobian folder was given" not in page and "generalize: no generalize folder was given" not in page


def test_two_reps_of_one_run_get_a_column_each_with_the_analysis_that_read_it(demo_out, tmp_path):
    out = demo_out[0]
    shutil.copytree(out / "rep", tmp_path / "rep2")
    shutil.copytree(out / "analysis", tmp_path / "analysis2")
    metrics = json.loads((tmp_path / "analysis2/metrics.json").read_text())
    (tmp_path / "analysis2/metrics.json").write_text(json.dumps({**metrics, "rep": str(tmp_path / "rep2")}))
    page = build_report([out / "run", out / "rep", tmp_path / "analysis2", out / "analysis", tmp_path / "rep2"], tmp_path / "r").read_text()
    rows = json.loads((tmp_path / "r" / "numbers/provenance.json").read_text())
    assert sorted((r["run"], r["kind"], Path(r["path"]).name) for r in rows) == [
        ("run · rep", "analysis", "analysis"), ("run · rep", "rep", "rep"), ("run · rep", "run", "run"),
        ("run · rep2", "analysis", "analysis2"), ("run · rep2", "rep", "rep2")]
    analysis = page[page.index('<section id="analysis">') :]
    columns = analysis[: analysis.index("</section>")].split('<div class="run-column">')[1:]
    assert len(columns) == 2 and all("analysis-" in c and "not given" not in c for c in columns)


def test_the_assessment_table_shows_and_links_the_medians_against_chance(tmp_path):
    import csv

    from denoscope.reporting.build import assessment_figure
    from denoscope.reporting.inputs import Stage
    from denoscope.sampling.assess import summary

    groups = {"phi_distance": {"guided": [0.1, 0.2, 0.3], "unguided": [0.5, 0.6, 0.7], "random": [0.4, 0.9, 0.2]},
              "class_agreement": {"guided": [1.0, 0.0, 1.0], "unguided": [0.0, 0.0, 1.0], "random": [0.0, 1.0, 0.0]}}
    measures = {name: summary(name, g) for name, g in groups.items()}
    spread = {"samples_pairwise_rms_median": 0.123, "unguided_pairwise_rms": 0.321, "random_pairwise_rms": 0.3}
    m = {"assessment": {"targets": 3, "per_target": 2, "unguided": 6, "random": 6, "measures": measures, "spread": spread}}
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "metrics.json").write_text(json.dumps(m))
    f = assessment_figure(Stage("reconstruct", tmp_path / "rec", m), tmp_path / "r", 0)
    assert "<th>phi_distance</th><td>0.200</td><td>0.600</td><td>0.400</td><td>67%</td>" in f.caption  # 0.1 and 0.3 beat both
    assert "<th>class_agreement</th><td>1.000</td><td>0.000</td><td>0.000</td><td>33%</td>" in f.caption
    assert "0.123" in f.caption and "0.321" in f.caption
    (label, href), = [link for link in f.links if link[0].endswith(".csv")]
    rows = {r["measure"]: r for r in csv.DictReader((tmp_path / "r" / href).open())}
    assert float(rows["phi_distance"]["guided_median"]) == 0.2 and float(rows["phi_distance"]["guided_closer_than_both"]) == 2 / 3
    assert (tmp_path / "r" / "numbers/reconstruct0-metrics.json").is_file()


def test_a_verdicts_reason_is_shown_once():
    from denoscope.analysis.findings import judged, part
    from denoscope.reporting.build import reason_note, verdict_badge

    few = judged([part("a", "1", True)], too_few="3 images, fewer than 20")
    assert reason_note(few) == "" and "too few images to tell (3 images, fewer than 20)" in verdict_badge(few)
    partly = judged([part("a", "1", True), part("b", "2", False)])
    assert reason_note(partly) == '<div class="why">not borne out: b (2)</div>' and "partly (1 of 2)" in verdict_badge(partly)
