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
    page = render("t", [Section("analysis", "A", "", (Figure("x.png", "Sparsity", caption, record=record),))], [], False)
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
