"""`denoscope draw` / `ds.draw`: a saved stage folder's figures drawn again from its files alone, as PNG (the bytes the
stage drew), PDF or SVG (vector figures for a paper); a bad format or folder refused before anything is drawn."""

import os
import shutil

from typer.testing import CliRunner

from denoscope.cli import app
from denoscope.reporting.draw import draw

STAGES = ("denoise", "analysis", "samples", "reconstruct")


def copies(demo_out, tmp_path) -> list:
    for name in STAGES:
        shutil.copytree(demo_out[0] / name, tmp_path / name)
    return [tmp_path / name for name in STAGES]


def test_a_folder_is_drawn_again_as_the_same_png_and_as_pdf_and_svg_of_the_same_figures(demo_out, tmp_path):
    folders = copies(demo_out, tmp_path)
    drawn = {f: {p: p.read_bytes() for p in draw(f)} for f in folders}
    for f, pngs in drawn.items():
        assert pngs and all(pngs[p] == (demo_out[0] / p.relative_to(tmp_path)).read_bytes() for p in pngs), f  # the stage's own PNGs
    for fmt, magic, vector in (("pdf", b"%PDF", b"/Type /Page"), ("svg", b"<?xml", b"<path")):
        done = CliRunner().invoke(app, ["draw", *map(str, folders), "--format", fmt])
        assert done.exit_code == 0, done.output
        for f, pngs in drawn.items():
            files = [p.with_suffix(f".{fmt}") for p in pngs]
            assert all(p.is_file() and p.read_bytes().startswith(magic) and vector in p.read_bytes() for p in files), (f, fmt)


def test_a_bad_format_or_folder_is_refused_by_name_before_any_figure_is_drawn(demo_out, tmp_path):
    folders = copies(demo_out, tmp_path)
    runner = CliRunner()
    for args, said in (
        ([*map(str, folders), "--format", "jpg"], "figures are drawn as one of png, pdf, svg, not 'jpg'"),
        ([str(folders[0]), str(tmp_path / "nowhere"), "--format", "pdf"], "nowhere does not exist or is not a folder"),
        ([str(folders[0]), str(demo_out[0] / "rep"), "--format", "pdf"], "holds the output of represent, which has no figures"),
    ):
        done = runner.invoke(app, ["draw", *args])
        assert done.exit_code == 1 and "Traceback" not in done.output and said in " ".join(done.output.split()), done.output
        assert not list(tmp_path.rglob("*.pdf")) and not list(tmp_path.rglob("*.jpg"))


def test_a_report_carries_and_links_the_vector_copies_drawn_beside_its_figures(demo_out, tmp_path):
    import re

    from denoscope.reporting.build import build_report

    folders = copies(demo_out, tmp_path)
    draw(tmp_path / "analysis", "pdf")
    draw(tmp_path / "reconstruct", "svg")
    page = build_report([demo_out[0] / "run", demo_out[0] / "rep", *folders], tmp_path / "r").read_text()
    linked = re.findall(r'<a href="(figures/[^"]+\.(?:pdf|svg))">(PDF|SVG)</a>', page)
    assert {p for p, _ in linked} == {p.relative_to(tmp_path / "r").as_posix() for p in (tmp_path / "r" / "figures").glob("*.*")
                                      if p.suffix in (".pdf", ".svg")}
    assert {p.split("-")[0] for p, _ in linked} == {"figures/analysis", "figures/reconstruct0"}
    assert all(label == p.rsplit(".", 1)[1].upper() for p, label in linked) and "Vector: " in page
    assert len([p for p, _ in linked if p.endswith(".pdf")]) == len(list((tmp_path / "analysis" / "figures").glob("*.pdf")))
    for png in (tmp_path / "reconstruct").glob("*.png"):  # the stage drew again after the SVGs: they show old numbers
        os.utime(png, (png.with_suffix(".svg").stat().st_mtime + 10,) * 2)
    page = build_report([demo_out[0] / "run", demo_out[0] / "rep", *folders], tmp_path / "r").read_text()
    assert "figures/reconstruct0-" not in "".join(re.findall(r'<a href="(figures/[^"]+\.svg)">', page)) and ".pdf\">PDF" in page
