"""Hostile input: verbatim messages, refusals before anything is written, one writer per folder, stage markers."""

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from denoscope.cli import app, stage
from denoscope.analysis.jacobian import adaptive_basis
from denoscope.analysis.run import analyse
from denoscope.data import open_source
from denoscope.demo import check_demo_folder
from denoscope.errors import ConfigError, DataError, Note, OutputError
from denoscope.io import folder_lock, write_marker
from denoscope.reporting.inputs import recognise
from denoscope.representation import Representation
from denoscope.results import StageResult
from denoscope.sampling.inputs import choose_images, choose_pairs, mean_of
from denoscope.config import model_config
from denoscope.data import Transform, TrainingSet
from denoscope.nn.unet import BlindUNet
from denoscope.training import batch_notes, check_fits


def test_an_error_message_is_printed_verbatim_without_markup_parsing(capsys):
    message = "--sigma must be finite, got [1, 2] in [/] and [bold]nan[/bold]"

    @stage
    def fails():
        raise ConfigError(message)

    @stage
    def notes():
        warnings.warn(message, Note)

    with pytest.raises(typer.Exit):
        fails()
    notes()
    err = capsys.readouterr().err
    assert f"error: {message}" in err and f"note: {message}" in err, err


SHAPES = "synthetic:shapes?n=12&size=16&seed=2"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def refused(done, out, *words):
    """Exit 1, one sentence naming `words`, no traceback, and `out` not made."""
    assert done.exit_code == 1, done.output
    assert "error:" in done.output and "Traceback" not in done.output, done.output
    for w in words:
        assert w in done.output, done.output
    assert not out.exists(), list(out.iterdir())


@pytest.fixture(scope="module")
def rep(two_level_weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "rep"
    done = invoke("represent", "--model", two_level_weights, "--data", SHAPES, "--out", out, "--sigma", "0.1", "0.5",
                  "--noise-draws", "1", "--maps", "4")
    assert done.exit_code == 0, done.output
    return out


@pytest.mark.parametrize("args, words", [
    (("train", "--data", SHAPES, "--preset", "tiny", "--steps", "1", "--image-size", "16", "--resize", "stretch"), ("resize", "stretch")),
    (("represent", "--data", SHAPES, "--image-size", "0"), ("image size", "0")),
    (("denoise", "--data", SHAPES, "--max-images", "0"), ("max images", "0")),
    (("reconstruct", "--data", SHAPES, "--index", "0", "--noise-draws", "0", "--max-steps", "2", "--mean-from", SHAPES), ("noise_draws", "0")),
    (("distance", "--data", SHAPES, "--pairs", "1", "--noise-draws", "0", "--max-steps", "2", "--mean-from", SHAPES), ("noise_draws", "0")),
    (("reconstruct", "--data", SHAPES, "--index", "0", "--phi-sigma", "-1", "--max-steps", "2", "--mean-from", SHAPES), ("phi_sigma", "-1")),
    (("distance", "--data", SHAPES, "--pairs", "1", "--phi-sigma", "nan", "--max-steps", "2", "--mean-from", SHAPES), ("phi_sigma", "nan")),
])
def test_named_user_mistakes_are_one_sentence_and_write_nothing(two_level_weights, tmp_path, args, words):
    out = tmp_path / "out"
    model = () if args[0] == "train" else ("--model", two_level_weights)
    refused(invoke(*args, *model, "--out", out), out, *words)


@pytest.mark.parametrize("args, words", [
    (("--sigma", "-1"), ("sigma", "-1")),
    (("--sigma", "nan"), ("sigma", "nan")),
    (("--max-images", "0"), ("--max-images", "--images")),
    (("--images", SHAPES, "--max-images", "0"), ("subset", "0")),
])
def test_analyse_refuses_a_negative_sigma_and_a_max_images_it_cannot_use(rep, tmp_path, args, words):
    out = tmp_path / "out"
    refused(invoke("analyse", "--rep", rep, "--out", out, *args), out, *words)


def test_a_batch_larger_than_the_training_set_is_said(tmp_path):
    assert batch_notes(8, 8) == []
    done = invoke("train", "--data", "synthetic:shapes?n=6&size=16", "--holdout", "1", "--preset", "tiny", "--steps", "1",
                  "--batch-size", "20", "--out", tmp_path / "run")
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert "batch size 20 is larger than the 5 training images: every batch repeats each image about 4 times" in said, said


def test_inverse_brings_larger_images_to_the_start_size_with_a_note(two_level_weights, tmp_path):
    done = invoke("inverse", "--model", two_level_weights, "--data", "synthetic:shapes?n=3&size=32", "--mean-from", SHAPES,
                  "--task", "box", "--n", "2", "--max-steps", "2", "--out", tmp_path / "inv")
    assert done.exit_code == 0, done.output
    assert "2 image(s) of 32×32 center-cropped and resized to the model's 16×16" in " ".join(done.output.split())
    assert np.load(tmp_path / "inv" / "inverse.npz")["original"].shape[1:3] == (16, 16)


HOLD = """
import sys, time
from denoscope.io import folder_lock, write_marker
with folder_lock(sys.argv[1], "run folder"):
    print("held", flush=True)
    time.sleep(60)
"""


def holding(folder):
    """A second process that holds the lock of `folder` until killed."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    assert p.stdout.readline().strip() == "held"
    return p


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def test_a_resume_while_another_process_writes_the_run_is_refused_and_writes_nothing(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "--data", SHAPES, "--preset", "tiny", "--steps", "1", "--batch-size", "4", "--holdout", "2", "--out", run).exit_code == 0
    holder = holding(run)
    try:
        before = snapshot(run)
        done = invoke("train", "--out", run, "--resume", "--steps", "2")
        assert done.exit_code == 1 and "Traceback" not in done.output, done.output
        assert f"is being written by pid {holder.pid} on {socket.gethostname()} since" in " ".join(done.output.split()), done.output
        assert snapshot(run) == before
    finally:
        holder.kill()
        holder.wait()
    done = invoke("train", "--out", run, "--resume", "--steps", "2")
    assert done.exit_code == 0, done.output
    assert f"took over the lock of {run} left by pid {holder.pid}" in " ".join(done.output.split()), done.output
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 2
    assert not (run / ".denoscope.lock").exists()


def test_a_refused_stage_removes_the_folder_its_lock_made(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(ConfigError):
        with folder_lock(out):
            raise ConfigError("refused")
    assert not out.exists()


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    run = tmp_path_factory.mktemp("marked") / "run"
    done = invoke("train", "--data", SHAPES, "--preset", "tiny", "--steps", "1", "--batch-size", "4", "--holdout", "2", "--out", run)
    assert done.exit_code == 0, done.output
    return run


def test_denoise_into_a_training_run_is_refused_before_anything_is_written(run_folder):
    assert json.loads((run_folder / "stage.json").read_text())["stage"] == "train"
    before = snapshot(run_folder)
    done = invoke("denoise", "--model", run_folder, "--data", SHAPES, "--out", run_folder)
    assert done.exit_code == 1 and "Traceback" not in done.output, done.output
    assert "holds the output of train; denoise writes into a folder of its own" in " ".join(done.output.split())
    assert snapshot(run_folder) == before


def test_a_stage_refuses_another_stages_folder_and_keeps_its_own(rep, tmp_path):
    with pytest.raises(OutputError, match="holds the output of represent"):
        StageResult("analyse", {"n": 1}).save(rep)
    out = tmp_path / "inverse"
    StageResult("inverse", {"n": 1}).save(out)
    StageResult("inverse", {"n": 2}).save(out)
    assert json.loads((out / "metrics.json").read_text()) == {"n": 2}
    with pytest.raises(OutputError, match="holds the output of inverse; denoise"):
        StageResult("denoise", {"n": 3}).save(out)
    done = invoke("represent", "--model", out, "--data", SHAPES, "--out", out)
    assert done.exit_code == 1 and "holds the output of inverse; represent" in " ".join(done.output.split()), done.output


def test_readers_take_the_stage_from_the_marker_before_the_files(tmp_path):
    out = tmp_path / "inverse"
    StageResult("inverse", {"n": 1}, {"inverse": {"a": np.zeros(1)}, "examples": {"a": np.zeros(1)}}).save(out)
    assert recognise(out).kind == "inverse"


def as_folder(images, order, folder):
    """The images of `images` as PNG files whose sorted names follow `order`."""
    folder.mkdir()
    for name, i in enumerate(order):
        Image.fromarray(images[int(i)]).save(folder / f"{name:02d}.png")
    return folder


def test_an_interrupt_says_how_that_command_continues(capsys):
    @stage
    def represent():
        raise KeyboardInterrupt

    with pytest.raises(typer.Exit):
        represent()
    err = " ".join(capsys.readouterr().err.split())
    assert "the same represent command continues the REP" in err and "--resume" not in err, err


def test_a_missing_rep_folder_is_called_missing(tmp_path):
    out = tmp_path / "out"
    refused(invoke("analyse", "--rep", tmp_path / "nowhere", "--out", out), out, "nowhere does not exist; expected a REP folder")


def test_analyse_refuses_the_same_images_in_another_order(rep, tmp_path):
    images = open_source(SHAPES)
    same = as_folder(images, range(len(images)), tmp_path / "same")
    shuffled = as_folder(images, np.random.default_rng(0).permutation(len(images)), tmp_path / "shuffled")
    representation = Representation(rep)
    representation.check_source(open_source(str(same)))
    with pytest.raises(DataError, match="same count, but the pixels of its images"):
        analyse(representation, images=open_source(str(shuffled)))
    out = tmp_path / "out"
    refused(invoke("analyse", "--rep", rep, "--images", shuffled, "--out", out), out, "is not the source the REP was extracted from")


def test_an_extraction_is_not_resumed_on_images_that_changed_under_the_same_name(two_level_weights, tmp_path):
    images = open_source(SHAPES)
    source = as_folder(images, range(len(images)), tmp_path / "source")
    args = ("represent", "--model", two_level_weights, "--data", source, "--out", tmp_path / "rep", "--sigma", "0.1", "--noise-draws", "1", "--maps", "0")
    assert invoke(*args).exit_code == 0
    for name, i in enumerate(np.random.default_rng(1).permutation(len(images))):
        Image.fromarray(images[int(i)]).save(source / f"{name:02d}.png")
    done = invoke(*args)
    assert done.exit_code == 1 and "other pixels (the source's images changed or were reordered)" in " ".join(done.output.split()), done.output


def test_analyse_of_a_few_images_shrinks_the_counts_it_chose_and_says_so(two_level_weights, tmp_path):
    few = "synthetic:shapes?n=6&size=16&seed=3"
    rep6 = tmp_path / "rep"
    assert invoke("represent", "--model", two_level_weights, "--data", few, "--out", rep6, "--sigma", "0.5", "--noise-draws", "1").exit_code == 0
    done = invoke("analyse", "--rep", rep6, "--images", few, "--out", tmp_path / "out")
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert "6 K-means clusters instead of 10: the REP holds 6 images" in said and "5 neighbours per query instead of 8" in said
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert list(metrics["clusters"]["k"]) == ["6"] and metrics["neighbours"]["k"] == 5


def test_generalize_refuses_a_copy_rule_that_is_not_a_number(tmp_path):
    out = tmp_path / "out"
    refused(invoke("generalize", "--data", SHAPES, "--sizes", "1", "--steps", "1", "--copy-psnr", "nan", "--out", out), out,
            "copy_psnr", "nan")


def test_reconstruct_checks_a_probe_source_it_would_not_use(two_level_weights, tmp_path):
    out = tmp_path / "out"
    refused(invoke("reconstruct", "--model", two_level_weights, "--data", SHAPES, "--index", "0", "--baselines", "0", "--probe-data",
                   tmp_path / "nope", "--max-steps", "2", "--mean-from", SHAPES, "--out", out), out, "nope: no such file or folder")


def test_more_pairs_or_targets_than_the_source_holds_are_capped_with_a_note():
    six = open_source("synthetic:shapes?n=6&size=16")
    with pytest.warns(Note, match="pairs = 100000 is more than the 15 distinct pairs of the 6 images"):
        pairs = choose_pairs(six, 100000, 0)
    assert sorted(pairs) == sorted(itertools.combinations(range(6), 2))
    with pytest.warns(Note, match="n = 1000 is more than the 6 images of .*: all 6 are used"):
        assert choose_images(six, 1000, 0) == list(range(6))
    with pytest.warns(Note, match="1000 images asked of .*, which holds 6: all 6 are used"):
        assert len(six.subset(1000)) == 6


def test_the_jacobian_refuses_more_eigenvectors_than_dimensions():
    with pytest.raises(ConfigError, match="top 49 asks for more eigenvectors than the 48 dimensions"):
        adaptive_basis(lambda y: y, torch.zeros(3, 4, 4), [0.1], top=49)


@pytest.mark.parametrize("folder", ["run", "rep", "images"])
def test_the_demo_refuses_a_folder_it_did_not_write_before_any_work(run_folder, rep, tmp_path, folder):
    target = {"run": run_folder, "rep": rep, "images": as_folder(open_source(SHAPES), range(2), tmp_path / "images")}[folder]
    before = snapshot(target)
    done = invoke("demo", "--quick", "--out", target)
    assert done.exit_code == 1 and "error:" in done.output and "Traceback" not in done.output, done.output
    assert snapshot(target) == before


def test_the_demo_takes_a_folder_it_wrote(tmp_path):
    (tmp_path / "old" / "run").mkdir(parents=True)
    check_demo_folder(tmp_path / "old")
    write_marker(tmp_path / "marked", "demo")
    (tmp_path / "marked" / "x.txt").write_text("x")
    check_demo_folder(tmp_path / "marked")


def png_folder(folder, n, size, cut=None):
    """n random PNGs of size×size; image `cut` keeps only its first 400 bytes (a readable header, no pixels)."""
    folder.mkdir()
    for i in range(n):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    if cut is not None:
        (folder / f"{cut}.png").write_bytes((folder / f"{cut}.png").read_bytes()[:400])
    return folder


@pytest.mark.parametrize("size, cut, words", [(18, None, "18×18 is not divisible"), (1, None, "1×1 is not divisible"),
                                              (16, 0, "0.png")])
def test_train_refuses_images_it_cannot_take_and_leaves_no_run_folder(tmp_path, size, cut, words):
    data, out = png_folder(tmp_path / "data", 4, size, cut), tmp_path / "run"
    refused(invoke("train", "--data", data, "--preset", "tiny", "--steps", "1", "--batch-size", "4", "--holdout", "1", "--out", out),
            out, words)


def test_a_holdout_larger_than_half_the_data_is_said(tmp_path):
    done = invoke("train", "--data", SHAPES, "--preset", "tiny", "--steps", "1", "--batch-size", "4", "--holdout", "100",
                  "--out", tmp_path / "run")
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert f"holdout 100 asked, 6 images held out: at most half of the images of {SHAPES}" in said, said


def test_resume_of_a_folder_without_a_run_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    done = invoke("train", "--resume", "--steps", "2", "--out", tmp_path / "empty")
    assert done.exit_code == 1 and "holds no run to resume (no checkpoint.safetensors)" in " ".join(done.output.split()), done.output
    assert list((tmp_path / "empty").iterdir()) == []


def test_sigma_far_beyond_the_training_range_is_said(run_folder, tmp_path):
    done = invoke("denoise", "--model", run_folder, "--data", SHAPES, "--max-images", "2", "--sigma", "1e9", "--out", tmp_path / "d")
    assert done.exit_code == 0, done.output
    assert "σ = 1e+09 lies far beyond the model's training range σ ≤ 1" in " ".join(done.output.split()), done.output


def test_analyse_says_which_level_stands_in_for_a_sigma_not_extracted(rep):
    r = Representation(rep)
    assert r.level_notes(1e9) == [f"σ = 1e+09 was not extracted; the nearest level of {rep}, σ = 0.5, is used"]
    assert r.level_notes(0.46) == r.level_notes(0.5) == []
    assert r.level_notes(0.44) == [f"σ = 0.44 was not extracted; the nearest level of {rep}, σ = 0.5, is used"]


def test_a_gray_model_converting_a_colour_mean_source_says_so():
    with pytest.warns(Note, match="converted 12 colour images to grayscale"):
        mean, _ = mean_of(SHAPES, 1, None)
    assert mean.shape == (1, 16, 16)


@pytest.mark.parametrize("damage, words", [("done", "is incomplete: done.npy is missing; run the same represent command again"),
                                           ("means", "mid.npy is cut short"),
                                           ("missing means", "is incomplete: means/mid.npy is missing; remove the REP folder")])
def test_a_rep_whose_extraction_was_killed_is_said_in_one_sentence(rep, tmp_path, damage, words):
    killed = tmp_path / "killed"
    shutil.copytree(rep, killed)
    mid = killed / "means" / "mid.npy"
    {"done": lambda: (killed / "done.npy").unlink(), "means": lambda: mid.write_bytes(mid.read_bytes()[:100]),
     "missing means": mid.unlink}[damage]()
    out = tmp_path / "out"
    refused(invoke("analyse", "--rep", killed, "--out", out), out, words)


def test_images_the_network_cannot_take_are_refused_before_the_trainer_writes(tmp_path):
    model = BlindUNet(model_config("tiny"))
    odd, even = (TrainingSet(open_source(str(png_folder(tmp_path / str(s), 2, s))), Transform()) for s in (18, 16))
    with pytest.raises(ConfigError, match="18×18 is not divisible by 2"):
        check_fits(model, odd, torch.zeros(1, 3, 16, 16))
    with pytest.raises(ConfigError, match="18×18 is not divisible by 2"):
        check_fits(model, even, torch.zeros(1, 3, 18, 18))
    check_fits(model, even, torch.zeros(1, 3, 16, 16))


def test_represent_says_how_it_converted_its_source(two_level_weights, tmp_path):
    data = png_folder(tmp_path / "mixed", 2, 16)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(data / "gray.png")
    done = invoke("represent", "--model", two_level_weights, "--data", data, "--sigma", "0.1", "--noise-draws", "1", "--maps", "0",
                  "--out", tmp_path / "rep")
    assert done.exit_code == 0 and "note: converted 1 grayscale image to RGB" in " ".join(done.output.split()), done.output


def test_files_a_source_skips_are_one_note_with_their_count_and_kinds(tmp_path):
    import tarfile

    folder = tmp_path / "images" / "cats"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / f"{i}.png")
    for name in ("a.gif", "b.gif", "readme.txt"):
        (folder / name).write_text("not an image")
    with tarfile.open(tmp_path / "images.tar", "w") as tar:
        tar.add(tmp_path / "images", arcname=".")
    for source in (tmp_path / "images", tmp_path / "images.tar"):
        images = open_source(str(source))
        skips = [n for n in images.notes if "skipped" in n]
        assert len(images) == 3 and len(skips) == 1 and "3 files" in skips[0] and "2 .gif, 1 .txt" in skips[0], images.notes
    clean = tmp_path / "clean"
    shutil.copytree(tmp_path / "images", clean, ignore=shutil.ignore_patterns("*.gif", "*.txt"))
    assert not [n for n in open_source(str(clean)).notes if "skipped" in n]
