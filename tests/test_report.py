"""The report and the explorer's files: built from the quick demo's saved folders, read back against those folders."""

import base64
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from denoscope.analysis.neighbours import neighbour_table
from denoscope.analysis.selectivity import channel_top_images
from denoscope.cli import app
from denoscope.errors import DataError, OutputError
from denoscope.report.build import build_report
from denoscope.report.explorer import COLUMNS, PER_SHEET, TILE, write_sprites
from denoscope.represent import Representation

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
    for name, f in analysis["findings"].items():
        assert f["evidence"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in page, name
    assert page.count('class="holds"') + page.count('class="fails"') >= len(analysis["findings"])
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
    build_report([out / s for s in STAGES], tmp_path / "r")
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
