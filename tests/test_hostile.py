"""Hostile input: verbatim messages, refusals before anything is written, one writer per folder, stage markers."""

import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from denoscope.cli import app, stage
from denoscope.analysis.run import analyse
from denoscope.data import open_source
from denoscope.errors import ConfigError, DataError, Note, OutputError
from denoscope.io import folder_lock
from denoscope.reporting.inputs import recognise
from denoscope.representation import Representation
from denoscope.results import StageResult
from denoscope.training import batch_notes


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
from denoscope.io import folder_lock
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
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


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
