"""Careless and hostile inputs to every denoscope command (issue 22), run in-process through the CLI and classified:
pass (exit 1 with one "error:" line and the file system as it was; or, for an "accept" case, exit 0 with its note),
weak (refused, but not in one "error:" line, or leaving files behind; or accepted without the note),
fail (a traceback, exit 0 on nonsense, or a hang past --timeout seconds).

Usage: OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/hostile.py --out benchmarks/results/hostile [--only COMMAND]
Writes OUT/cases.jsonl (one record per case) and OUT/table.md (counts per command, then every weak and fail case).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

SHAPES = "synthetic:shapes?n=64&size=16&seed=0"
OTHER = "synthetic:shapes?n=64&size=16&seed=5"
FAST = ["--max-steps", "3", "--device", "cpu"]
COMMANDS = ("train", "denoise", "represent", "analyse", "sample", "inverse", "reconstruct", "distance", "report",
            "draw", "jacobian", "generalize", "demo")


class OutOfTime(Exception):
    pass


def alarm(signum, frame):
    raise OutOfTime()


def invoke(args: list[str], seconds: int):
    """The CliRunner result of one command, stopped after `seconds`."""
    from typer.testing import CliRunner

    from denoscope.cli import app

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        return CliRunner().invoke(app, args)
    finally:
        signal.alarm(0)


def listing(root: Path) -> dict:
    """Every path under `root` with its size and mtime (folders by presence)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = None if p.is_dir() else (st.st_size, st.st_mtime_ns)
    return out


def changes(before: dict, after: dict) -> list[str]:
    """New, removed and modified paths (modified inside folders that were already there)."""
    new = sorted(set(after) - set(before))
    top = [p for p in new if not any(p.startswith(q + "/") for q in new if q != p)]
    gone = [f"-{p}" for p in sorted(set(before) - set(after))]
    changed = [f"~{p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return [f"+{p}" for p in top] + gone + changed


def png(path: Path, size=16, mode="RGB", seed=0):
    """A small random image."""
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)


def must(args: list[str]):
    """Run a fixture command; it has to succeed."""
    done = invoke(args, 600)
    if done.exit_code != 0:
        raise RuntimeError(f"fixture failed: {args}\n{done.output}\n{done.exception!r}")


def fixtures(fix: Path) -> dict:
    """A tiny trained run, a REP, an analysis, image folders and files, bad checkpoints; paths by name."""
    f = {k: fix / k for k in ("run", "rep", "ana", "png", "corrupt", "gray", "mixed", "tiny", "odd", "empty", "gif",
                               "nested", "ro")}
    must(["train", "--preset", "tiny", "--steps", "4", "--data", SHAPES, "--holdout", "8", "--batch-size", "8",
          "--log-every", "2", "--eval-every", "4", "--checkpoint-every", "4", "--device", "cpu", "--out", str(f["run"])])
    must(["represent", "--model", str(f["run"]), "--data", SHAPES, "--out", str(f["rep"]), "--sigma", "0.1", "0.5",
          "--noise-draws", "1", "--maps", "4", "--device", "cpu"])
    must(["analyse", "--rep", str(f["rep"]), "--images", SHAPES, "--out", str(f["ana"]), "--k", "4"])
    for k in ("png", "corrupt", "gray", "mixed", "tiny", "odd", "empty", "gif", "nested"):
        f[k].mkdir()
    for i in range(8):
        png(f["png"] / f"{i}.png", seed=i)
        png(f["corrupt"] / f"{i}.png", seed=i)
        png(f["gray"] / f"{i}.png", mode="L", seed=i)
        png(f["mixed"] / f"{i}.png", size=16 if i % 2 else 24, seed=i)
        png(f["odd"] / f"{i}.png", size=18, seed=i)
    (f["corrupt"] / "3.png").write_bytes((f["png"] / "3.png").read_bytes()[:40])
    (f["corrupt"] / "9.png").write_bytes(b"this is not an image")
    f["cut"] = fix / "cut"
    f["cut"].mkdir()
    for i in range(8):
        png(f["cut"] / f"{i}.png", seed=i)
    (f["cut"] / "5.png").write_bytes((f["png"] / "5.png").read_bytes()[:400])
    png(f["tiny"] / "a.png", size=1)
    png(f["tiny"] / "b.png", size=1, seed=1)
    Image.new("P", (16, 16)).save(f["gif"] / "a.gif")
    (f["nested"] / "sub").mkdir()
    png(f["nested"] / "sub" / "a.png")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    np.savez(fix / "imgs.npz", images=images)
    np.savez(fix / "flat.npz", images=images.reshape(8, -1))
    np.savez(fix / "rows.npz", images=rng.integers(0, 256, (8, 700), dtype=np.uint8))
    np.savez(fix / "nan.npz", images=np.full((8, 16, 16, 3), np.nan, dtype=np.float32))
    np.savez(fix / "five.npz", images=rng.random((8, 16, 16, 5), dtype=np.float32))
    np.savez(fix / "empty.npz", images=np.zeros((0, 16, 16, 3), dtype=np.uint8))
    np.savez(fix / "two.npz", a=images, b=images)
    (fix / "trunc.npz").write_bytes((fix / "imgs.npz").read_bytes()[:300])
    (fix / "text.npz").write_text("not a zip")
    np.save(fix / "imgs.npy", images)
    weights = (f["run"] / "model.safetensors").read_bytes()
    (fix / "trunc.safetensors").write_bytes(weights[: len(weights) // 2])
    (fix / "text.safetensors").write_text("hello")
    (fix / "model.pt").write_bytes(weights)
    (fix / "zero.safetensors").write_bytes(b"")
    (fix / "afile").write_text("x")
    shutil.copytree(f["run"], fix / "run_noweights")
    (fix / "run_noweights" / "model.safetensors").unlink()
    shutil.copytree(f["rep"], fix / "rep_partial")
    (fix / "rep_partial" / "manifest.json").unlink(missing_ok=True)
    shutil.copytree(f["rep"], fix / "rep_killed")
    (fix / "rep_killed" / "done.npy").unlink()
    (fix / "rep_killed" / "means" / "mid.npy").write_bytes((f["rep"] / "means" / "mid.npy").read_bytes()[:100])
    must(["train", "--preset", "tiny", "--steps", "2", "--data", SHAPES, "--holdout", "8", "--batch-size", "8",
          "--channels", "1", "--eval-every", "2", "--checkpoint-every", "2", "--device", "cpu", "--out", str(fix / "run_gray")])
    f["ro"].mkdir()
    f["ro"].chmod(0o555)
    return {**{k: str(v) for k, v in f.items()}, **{p.stem + p.suffix.replace(".", "_"): str(p) for p in fix.iterdir() if p.is_file()},
            "run_noweights": str(fix / "run_noweights"), "rep_partial": str(fix / "rep_partial"), "rep_killed": str(fix / "rep_killed"),
            "run_gray": str(fix / "run_gray"), "fix": str(fix)}


def C(command, case, args, expected="refuse", note=None, root_ok=True, setup=None, timeout=None):
    """One case: `args` after the command name, with {placeholders} for fixtures, {out} and {case} (its folder);
    an "accept" case passes on exit 0 when a note matches `note` (None: no note needed) or on a clean refusal."""
    return {"command": command, "case": case, "args": args, "expected": expected, "note": note, "root_ok": root_ok, "setup": setup,
            "timeout": timeout}


def copy_run(case: Path, f: dict):
    shutil.copytree(f["run"], case / "myrun")


def empty_folder(case: Path, f: dict):
    (case / "emptyrun").mkdir()


def analysis_copy(case: Path, f: dict):
    shutil.copytree(f["ana"], case / "ana")


def analysis_without_metrics(case: Path, f: dict):
    analysis_copy(case, f)
    (case / "ana" / "metrics.json").unlink()


def analysis_read_only(case: Path, f: dict):
    analysis_copy(case, f)
    for folder in (case / "ana" / "figures", case / "ana"):
        folder.chmod(0o555)


def cases() -> list[dict]:
    T = ["--preset", "tiny", "--steps", "2", "--holdout", "8", "--batch-size", "8", "--device", "cpu"]
    M = ["--model", "{run}"]
    D = ["denoise", *M, "--data", SHAPES, "--device", "cpu", "--out", "{out}"]
    R = ["represent", *M, "--data", SHAPES, "--noise-draws", "1", "--maps", "4", "--sigma", "0.1", "0.5", "--device", "cpu", "--out", "{out}"]
    Y = ["--rep", "{rep}", "--out", "{out}"]
    S = ["sample", *M, "--n", "2", *FAST, "--out", "{out}"]
    I = ["inverse", *M, "--data", SHAPES, "--n", "2", *FAST, "--out", "{out}"]
    X = ["reconstruct", *M, "--data", SHAPES, "--n", "1", "--noise-draws", "1", "--baselines", "0", *FAST, "--out", "{out}"]
    Z = ["distance", *M, "--data", SHAPES, "--n", "1", "--levels", "2", "--noise-draws", "1", *FAST, "--out", "{out}"]
    J = ["jacobian", *M, "--data", SHAPES, "--top", "2", "--device", "cpu", "--out", "{out}"]
    G = ["generalize", "--data", SHAPES, "--preset", "tiny", "--batch-size", "4", "--holdout", "8", "--samples", "1", *FAST, "--out", "{out}"]
    return [
        C("train", "missing data folder", ["--data", "{case}/nope", *T, "--out", "{out}"]),
        C("train", "no --data for a new run", [*T, "--out", "{out}"]),
        C("train", "empty folder", ["--data", "{empty}", *T, "--out", "{out}"]),
        C("train", "folder with a corrupt PNG", ["--data", "{corrupt}", *T, "--holdout", "2", "--out", "{out}"]),
        C("train", "truncated .npz", ["--data", "{trunc_npz}", *T, "--out", "{out}"]),
        C("train", "text file named .npz", ["--data", "{text_npz}", *T, "--out", "{out}"]),
        C("train", ".npz of flat rows (the documented N×3·S·S layout)", ["--data", "{flat_npz}", *T, "--holdout", "2", "--out", "{out}"],
          "accept"),
        C("train", ".npz of rows that are not 3·S·S", ["--data", "{rows_npz}", *T, "--holdout", "2", "--out", "{out}"]),
        C("train", "a PNG cut short after its header", ["--data", "{cut}", *T, "--holdout", "2", "--out", "{out}"]),
        C("train", ".npz of NaN images", ["--data", "{nan_npz}", *T, "--holdout", "2", "--out", "{out}"]),
        C("train", ".npz with 5 channels", ["--data", "{five_npz}", *T, "--holdout", "2", "--out", "{out}"]),
        C("train", ".npz with no images", ["--data", "{empty_npz}", *T, "--out", "{out}"]),
        C("train", "unknown synthetic source", ["--data", "synthetic:nope", *T, "--out", "{out}"]),
        C("train", "unknown preset", ["--data", SHAPES, *T, "--preset", "huge", "--out", "{out}"]),
        C("train", "zero steps", ["--data", SHAPES, *T, "--steps", "0", "--out", "{out}"]),
        C("train", "negative steps", ["--data", SHAPES, *T, "--steps", "-5", "--out", "{out}"]),
        C("train", "zero batch size", ["--data", SHAPES, *T, "--batch-size", "0", "--out", "{out}"]),
        C("train", "NaN learning rate", ["--data", SHAPES, *T, "--lr", "nan", "--out", "{out}"]),
        C("train", "negative sigma-max", ["--data", SHAPES, *T, "--sigma-max", "-1", "--out", "{out}"]),
        C("train", "inf sigma-max", ["--data", SHAPES, *T, "--sigma-max", "inf", "--out", "{out}"]),
        C("train", "unknown sigma-dist", ["--data", SHAPES, *T, "--sigma-dist", "gauss", "--out", "{out}"]),
        C("train", "unknown norm", ["--data", SHAPES, *T, "--norm", "group", "--out", "{out}"]),
        C("train", "unknown head", ["--data", SHAPES, *T, "--head", "score", "--out", "{out}"]),
        C("train", "unknown resize", ["--data", SHAPES, *T, "--image-size", "16", "--resize", "stretch", "--out", "{out}"]),
        C("train", "image size not divisible by 4 (tiny)", ["--data", "{odd}", *T, "--holdout", "2", "--out", "{out}"]),
        C("train", "image size 0", ["--data", SHAPES, *T, "--image-size", "0", "--out", "{out}"]),
        C("train", "2 channels", ["--data", SHAPES, *T, "--channels", "2", "--out", "{out}"]),
        C("train", "holdout larger than the data", ["--data", SHAPES, *T, "--holdout", "100", "--out", "{out}"], "accept", r"holdout|held"),
        C("train", "EMA decay 1.5", ["--data", SHAPES, *T, "--ema", "1.5", "--out", "{out}"]),
        C("train", "width 0", ["--data", SHAPES, *T, "--width", "0", "--out", "{out}"]),
        C("train", "--out into an existing run without --resume", ["--data", SHAPES, *T, "--out", "{run}"]),
        C("train", "--out into a REP", ["--data", SHAPES, *T, "--out", "{rep}"]),
        C("train", "--out is a file", ["--data", SHAPES, *T, "--out", "{afile}"]),
        C("train", "--out in a read-only folder", ["--data", SHAPES, *T, "--out", "{ro}/run"], root_ok=False),
        C("train", "--resume on nothing", ["--resume", *T, "--out", "{out}"]),
        C("train", "--resume on an empty folder", ["--resume", "--steps", "4", "--device", "cpu", "--out", "{case}/emptyrun"],
          setup=empty_folder),
        C("train", "--resume into a REP", ["--resume", "--steps", "8", "--device", "cpu", "--out", "{rep}"]),
        C("train", "--resume changing the preset", ["--resume", "--preset", "small", "--steps", "8", "--device", "cpu",
                                                   "--out", "{case}/myrun"], setup=copy_run),
        C("train", "--resume changing the data", ["--resume", "--data", OTHER, "--steps", "8", "--device", "cpu",
                                                 "--out", "{case}/myrun"], setup=copy_run),
        C("train", "--resume with fewer steps than done", ["--resume", "--steps", "2", "--device", "cpu", "--out", "{case}/myrun"],
          setup=copy_run),
        C("train", "1×1 images", ["--data", "{tiny}", *T, "--holdout", "1", "--out", "{out}"]),
        C("train", "folder of only a .gif", ["--data", "{gif}", *T, "--out", "{out}"]),
        C("train", "unknown device", ["--data", SHAPES, *T, "--device", "tpu", "--out", "{out}"]),

        C("denoise", "missing model folder", ["--model", "{case}/nope", "--data", SHAPES, "--out", "{out}"]),
        C("denoise", "run folder without weights", ["--model", "{run_noweights}", "--data", SHAPES, "--out", "{out}"]),
        C("denoise", "a text file as .safetensors", ["--model", "{text_safetensors}", "--data", SHAPES, "--out", "{out}"]),
        C("denoise", "truncated .safetensors", ["--model", "{trunc_safetensors}", "--data", SHAPES, "--out", "{out}"]),
        C("denoise", "empty .safetensors", ["--model", "{zero_safetensors}", "--data", SHAPES, "--out", "{out}"]),
        C("denoise", "safetensors weights named .pt", ["--model", "{model_pt}", "--data", SHAPES, "--out", "{out}"], "accept"),
        C("denoise", "a REP as the model", ["--model", "{rep}", "--data", SHAPES, "--out", "{out}"]),
        C("denoise", "missing data", D[1:3] + ["--data", "{case}/nope", "--out", "{out}"]),
        C("denoise", "corrupt PNG in the folder", D[1:3] + ["--data", "{corrupt}", "--out", "{out}"]),
        C("denoise", "sigma NaN", D[1:] + ["--sigma", "nan"]),
        C("denoise", "sigma negative", D[1:] + ["--sigma", "-0.1"]),
        C("denoise", "sigma inf", D[1:] + ["--sigma", "inf"]),
        C("denoise", "sigma 1e9", D[1:] + ["--sigma", "1e9", "--max-images", "4"], "accept", r"σ|sigma|range"),
        C("denoise", "max-images 0", D[1:] + ["--max-images", "0"]),
        C("denoise", "max-images -1", D[1:] + ["--max-images", "-1"]),
        C("denoise", "batch size 0", D[1:] + ["--batch-size", "0"]),
        C("denoise", "channels 2", D[1:] + ["--channels", "2"]),
        C("denoise", "gray images, RGB model", D[1:3] + ["--data", "{gray}", "--device", "cpu", "--out", "{out}"], "accept", r"channel|gray|RGB|convert"),
        C("denoise", "RGB images, gray model", ["--model", "{run_gray}", "--data", SHAPES, "--device", "cpu", "--out", "{out}"], "accept", r"channel|gray|RGB|convert"),
        C("denoise", "--out into a training run", D[1:-1] + ["{run}"]),
        C("denoise", "--out into a REP", D[1:-1] + ["{rep}"]),
        C("denoise", "--out in a read-only folder", D[1:-1] + ["{ro}/d"], root_ok=False),

        C("represent", "missing model", ["--model", "{case}/nope", *R[3:]]),
        C("represent", "truncated .safetensors", ["--model", "{trunc_safetensors}", *R[3:]]),
        C("represent", "gray model on RGB data", ["--model", "{run_gray}", *R[3:]], "accept", r"channel|gray|convert"),
        C("represent", "corrupt PNG in the folder", [*R[1:3], "--data", "{corrupt}", *R[5:]]),
        C("represent", "sigma NaN", [*R[1:], "--sigma", "nan"]),
        C("represent", "sigma -1", [*R[1:], "--sigma", "-1"]),
        C("represent", "sigma 1e9", [*R[1:], "--sigma", "1e9", "--max-images", "4"], "accept", r"σ|sigma|range"),
        C("represent", "noise draws 0", [*R[1:], "--noise-draws", "0"]),
        C("represent", "maps -1", [*R[1:], "--maps", "-1"]),
        C("represent", "unknown block", [*R[1:], "--blocks", "enc9"]),
        C("represent", "image size 0", [*R[1:], "--image-size", "0"]),
        C("represent", "image size larger than the images", [*R[1:], "--image-size", "64"]),
        C("represent", "max-images 0", [*R[1:], "--max-images", "0"]),
        C("represent", "max-images beyond the data", [*R[1:], "--max-images", "1000"], "accept", r"max|images|only|cap"),
        C("represent", "--out into an analysis folder", [*R[1:-1], "{ana}"]),
        C("represent", "--out into a training run", [*R[1:-1], "{run}"]),
        C("represent", "--out into the existing REP with other σ", [*R[1:-1], "{rep}", "--sigma", "0.2"]),
        C("represent", "--out in a read-only folder", [*R[1:-1], "{ro}/rep"], root_ok=False),

        C("analyse", "missing REP folder", ["--rep", "{case}/nope", "--out", "{out}"]),
        C("analyse", "a training run as the REP", ["--rep", "{run}", "--out", "{out}"]),
        C("analyse", "REP without manifest", ["--rep", "{rep_partial}", "--out", "{out}"]),
        C("analyse", "a REP whose represent was killed midway", ["--rep", "{rep_killed}", "--out", "{out}"]),
        C("analyse", "REP with other images (same count)", [*Y, "--images", OTHER]),
        C("analyse", "REP with another folder of images", [*Y, "--images", "{png}"]),
        C("analyse", "sigma NaN", [*Y, "--sigma", "nan"]),
        C("analyse", "sigma -1", [*Y, "--sigma", "-1"]),
        C("analyse", "sigma 1e9", [*Y, "--sigma", "1e9"], "accept", r"σ|sigma|nearest"),
        C("analyse", "k 0", [*Y, "--k", "0"]),
        C("analyse", "k larger than the images", [*Y, "--k", "1000"]),
        C("analyse", "max-images 0", [*Y, "--max-images", "0"]),
        C("analyse", "max-images not the REP's", [*Y, "--images", SHAPES, "--max-images", "10"]),
        C("analyse", "--out into the REP", ["--rep", "{rep}", "--out", "{rep}"]),
        C("analyse", "--out into a training run", ["--rep", "{rep}", "--out", "{run}"]),
        C("analyse", "--out in a read-only folder", ["--rep", "{rep}", "--out", "{ro}/a"], root_ok=False),

        C("sample", "missing model", ["--model", "{case}/nope", *S[3:]]),
        C("sample", "non-safetensors file", ["--model", "{text_safetensors}", *S[3:]]),
        C("sample", "n 0", [*S[1:], "--n", "0"]),
        C("sample", "n -3", [*S[1:], "--n", "-3"]),
        C("sample", "size 0", [*S[1:], "--size", "0", "--mean-from", "{empty}"]),
        C("sample", "beta 1.5", [*S[1:], "--beta", "1.5"]),
        C("sample", "beta NaN", [*S[1:], "--beta", "nan"]),
        C("sample", "h0 negative", [*S[1:], "--h0", "-0.01"]),
        C("sample", "sigma-final inf", [*S[1:], "--sigma-final", "inf"]),
        C("sample", "max-steps 0", [*S[1:], "--max-steps", "0"]),
        C("sample", "mean-from a missing folder", [*S[1:], "--mean-from", "{case}/nope"]),
        C("sample", "mean-from a corrupt folder", [*S[1:], "--mean-from", "{corrupt}"]),
        C("sample", "--out into a REP", [*S[1:-1], "{rep}"]),
        C("sample", "--out in a read-only folder", [*S[1:-1], "{ro}/s"], root_ok=False),

        C("inverse", "unknown task", [*I[1:], "--task", "inpaint"]),
        C("inverse", "n 0", [*I[1:], "--n", "0"]),
        C("inverse", "n beyond the data", [*I[1:], "--n", "1000"], "accept", r"only|images|cap"),
        C("inverse", "missing data", [*I[1:3], "--data", "{case}/nope", *I[5:]]),
        C("inverse", "truncated .npz data", [*I[1:3], "--data", "{trunc_npz}", *I[5:]]),
        C("inverse", "larger images than the model", [*I[1:3], "--data", "synthetic:shapes?n=4&size=32", *I[5:], "--mean-from", SHAPES],
          "accept", r"resized|crop"),
        C("inverse", "1×1 images", [*I[1:3], "--data", "{tiny}", *I[5:], "--mean-from", SHAPES], "accept", r"1×1.*resized"),
        C("inverse", "beta -1", [*I[1:], "--beta", "-1"]),
        C("inverse", "--out into a training run", [*I[1:-1], "{run}"]),
        C("inverse", "mismatched checkpoint (gray model, RGB mean)", ["--model", "{run_gray}", *I[3:], "--mean-from", SHAPES],
          "accept", r"channel|gray|convert"),

        C("reconstruct", "neither --index nor --cluster", [*X[1:]]),
        C("reconstruct", "index out of range", [*X[1:], "--index", "500"]),
        C("reconstruct", "negative index", [*X[1:], "--index", "-1"]),
        C("reconstruct", "cluster without --rep", [*X[1:], "--cluster", "0"]),
        C("reconstruct", "cluster beyond k", [*X[1:], "--rep", "{rep}", "--cluster", "20", "--k", "4"]),
        C("reconstruct", "rep is a training run", [*X[1:], "--rep", "{run}", "--cluster", "0", "--k", "4"]),
        C("reconstruct", "noise draws 0", [*X[1:], "--index", "0", "--noise-draws", "0"]),
        C("reconstruct", "unknown phi-of", [*X[1:], "--index", "0", "--phi-of", "mean"]),
        C("reconstruct", "tolerance NaN", [*X[1:], "--index", "0", "--tolerance", "nan"]),
        C("reconstruct", "phi-sigma -1", [*X[1:], "--index", "0", "--phi-sigma", "-1"]),
        C("reconstruct", "probe-data missing", [*X[1:], "--index", "0", "--probe-data", "{case}/nope"]),
        C("reconstruct", "--out into an analysis", [*X[1:-1], "{ana}", "--index", "0"]),

        C("distance", "pairs 0", [*Z[1:], "--pairs", "0"]),
        C("distance", "pairs -2", [*Z[1:], "--pairs", "-2"]),
        C("distance", "pairs 100000 from 6 images", [*Z[1:3], "--data", "synthetic:shapes?n=6&size=16", *Z[5:], "--pairs", "100000",
                                                     "--mean-from", SHAPES], "accept", r"pairs|only|cap"),
        C("distance", "levels 0", [*Z[1:], "--pairs", "1", "--levels", "0"]),
        C("distance", "noise draws 0", [*Z[1:], "--pairs", "1", "--noise-draws", "0"]),
        C("distance", "one-image data", [*Z[1:3], "--data", "synthetic:shapes?n=1&size=16", *Z[5:], "--pairs", "1", "--mean-from", SHAPES]),
        C("distance", "missing data", [*Z[1:3], "--data", "{case}/nope", *Z[5:], "--pairs", "1"]),
        C("distance", "phi-sigma inf", [*Z[1:], "--pairs", "1", "--phi-sigma", "inf"]),
        C("distance", "--out into a REP", [*Z[1:-1], "{rep}", "--pairs", "1"]),

        C("report", "missing run folder", ["{case}/nope", "--out", "{out}"]),
        C("report", "a REP as the run", ["{rep}", "--out", "{out}"], "accept", r"REP|not a (training )?run|weights|missing"),
        C("report", "a run without weights", ["{run_noweights}", "--out", "{out}"], "accept", r"weights|model|missing"),
        C("report", "an image folder as a stage folder", ["{run}", "{png}", "--out", "{out}"]),
        C("report", "an incomplete REP", ["{run}", "{rep_partial}", "--out", "{out}"]),
        C("report", "a missing stage folder", ["{run}", "{case}/nope", "--out", "{out}"]),
        C("report", "a file as a stage folder", ["{run}", "{afile}", "--out", "{out}"]),
        C("report", "--out into the run", ["{run}", "{rep}", "--out", "{run}"]),
        C("report", "--out into an analysis", ["{run}", "{rep}", "--out", "{ana}"]),
        C("report", "--out is a file", ["{run}", "--out", "{afile}"]),
        C("report", "--out in a read-only folder", ["{run}", "--out", "{ro}/r"], root_ok=False),
        C("report", "the same REP twice", ["{run}", "{rep}", "{rep}", "--out", "{out}"], "accept", r"twice|same|duplicate|once"),

        C("draw", "missing folder", ["{case}/nope"]),
        C("draw", "a file as the folder", ["{afile}"]),
        C("draw", "a REP (no figures)", ["{rep}"]),
        C("draw", "a training run", ["{run}"]),
        C("draw", "an image folder", ["{png}"]),
        C("draw", "format jpg", ["{case}/ana", "--format", "jpg"], setup=analysis_copy),
        C("draw", "empty format", ["{case}/ana", "--format", ""], setup=analysis_copy),
        C("draw", "an analysis, then a missing folder", ["{case}/ana", "{case}/nope", "--format", "pdf"], setup=analysis_copy),
        C("draw", "an analysis without metrics.json", ["{case}/ana", "--format", "pdf"], setup=analysis_without_metrics),
        C("draw", "a read-only analysis", ["{case}/ana", "--format", "svg"], root_ok=False, setup=analysis_read_only),
        C("draw", "an analysis as PDF", ["{case}/ana", "--format", "pdf"], "accept", setup=analysis_copy),

        C("jacobian", "index out of range", [*J[1:], "--index", "500"]),
        C("jacobian", "negative index", [*J[1:], "--index", "-1"]),
        C("jacobian", "sigma 0", [*J[1:], "--sigma", "0"]),
        C("jacobian", "sigma NaN", [*J[1:], "--sigma", "nan"]),
        C("jacobian", "top 0", [*J[1:], "--top", "0"]),
        C("jacobian", "top larger than the dimension", [*J[1:], "--top", "100000"]),
        C("jacobian", "top equal to the dimension (768)", [*J[1:], "--top", "768"], "accept"),
        C("jacobian", "image larger than 64", [*J[1:3], "--data", "synthetic:shapes?n=2&size=128", *J[5:]]),
        C("jacobian", "corrupt image", [*J[1:3], "--data", "{corrupt}", *J[5:], "--index", "3"]),
        C("jacobian", "truncated checkpoint", ["--model", "{trunc_safetensors}", *J[3:]]),
        C("jacobian", "--out into a REP", [*J[1:-1], "{rep}"]),

        C("generalize", "sizes 0", [*G[1:], "--sizes", "0", "--steps", "1"]),
        C("generalize", "sizes -1", [*G[1:], "--sizes", "-1", "--steps", "1"]),
        C("generalize", "steps 0", [*G[1:], "--sizes", "1", "--steps", "0"]),
        C("generalize", "steps count not matching sizes", [*G[1:], "--sizes", "1", "--sizes", "2", "--steps", "1", "--steps", "1",
                                                           "--steps", "1"]),
        C("generalize", "sizes beyond the data", [*G[1:], "--sizes", "100000", "--steps", "1"]),
        C("generalize", "unknown preset", [*G[1:], "--sizes", "1", "--steps", "1", "--preset", "huge"]),
        C("generalize", "holdout 0", [*G[1:], "--sizes", "1", "--steps", "1", "--holdout", "0"]),
        C("generalize", "samples 0", [*G[1:], "--sizes", "1", "--steps", "1", "--samples", "0"]),
        C("generalize", "copy-psnr NaN", [*G[1:], "--sizes", "1", "--steps", "1", "--copy-psnr", "nan"]),
        C("generalize", "channels 2", [*G[1:], "--sizes", "1", "--steps", "1", "--channels", "2"]),
        C("generalize", "missing data", ["--data", "{case}/nope", *G[3:], "--sizes", "1", "--steps", "1"]),
        C("generalize", "--out into a training run", [*G[1:-1], "{run}", "--sizes", "1", "--steps", "1"]),

        C("demo", "--out into a training run", ["--quick", "--out", "{run}"], timeout=20),
        C("demo", "--out into a REP", ["--quick", "--out", "{rep}"], timeout=20),
        C("demo", "--out is a file", ["--quick", "--out", "{afile}"], timeout=20),
        C("demo", "--out in a read-only folder", ["--quick", "--out", "{ro}/demo"], root_ok=False, timeout=20),
        C("demo", "--out into a non-empty image folder", ["--quick", "--out", "{png}"], timeout=20),
    ]


def first_message(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    return (errors or lines or [""])[0][:300]


def classify(c: dict, result, left: list[str], note_ok: bool) -> tuple[str, str]:
    """(verdict, reason) of one case's result."""
    if isinstance(result.exception, OutOfTime):
        started = any(ln.strip() and not ln.strip().startswith("note:") for ln in result.output.splitlines())
        return "fail", "accepted and still working when stopped at the timeout" if started else "hang (timed out)"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return "fail", f"traceback: {type(result.exception).__name__}"
    if "Traceback" in result.output:
        return "fail", "traceback in the output"
    code = result.exit_code
    if code == 0:
        if c["expected"] == "refuse":
            return "fail", "exit 0 on nonsense"
        inputs_changed = [p for p in left if not p.startswith("+")]
        if inputs_changed:
            return "weak", "accepted but changed existing files"
        return ("pass", "accepted with its note") if note_ok else ("weak", "accepted without a note")
    lines = [ln.strip() for ln in result.output.splitlines() if ln.strip()]
    errors = [i for i, ln in enumerate(lines) if ln.startswith("error:")]
    one_line = code == 1 and len(errors) == 1 and errors[0] == len(lines) - 1
    if not one_line:
        return "weak", f"refused (exit {code}) but not one closing 'error:' line"
    if left:
        return "weak", "refused but left files behind"
    before = [ln for ln in lines[:-1] if not ln.startswith("note:")]
    return "pass", "refused in one line, nothing written" + (f" (after {len(before)} progress line(s))" if before else "")


def run_case(c: dict, root: Path, fix: dict, timeout: int) -> dict:
    """Prepare, run and classify one case in its own folder under `root`."""
    case = root / "cases" / re.sub(r"[^a-z0-9]+", "-", f"{c['command']} {c['case']}".lower()).strip("-")
    case.mkdir(parents=True)
    subs = {**fix, "case": str(case), "out": str(case / "out")}
    args = [c["command"], *(a.format(**subs) for a in c["args"])]
    shown = [a.replace(str(root), "$TMP") for a in args]
    record = {"command": c["command"], "case": c["case"], "args": shown, "expected": c["expected"]}
    if not c["root_ok"] and os.geteuid() == 0:
        return {**record, "verdict": "skipped", "reason": "running as root: permissions are ignored", "exit_code": None,
                "message": "", "files_left": []}
    if c["setup"]:
        c["setup"](case, fix)
    before = listing(root)
    cwd = os.getcwd()
    os.chdir(case)
    start = time.perf_counter()
    try:
        result = invoke(args, c["timeout"] or timeout)
    finally:
        os.chdir(cwd)
    wall = time.perf_counter() - start
    left = changes(before, listing(root))
    note_ok = c["note"] is None or any(re.search(c["note"], ln) for ln in result.output.splitlines() if "note:" in ln)
    verdict, reason = classify(c, result, left, note_ok)
    message = first_message(result.output)
    if verdict == "fail" and result.exception is not None and not isinstance(result.exception, (SystemExit, OutOfTime)):
        message = traceback.format_exception_only(result.exception)[-1].strip()[:300]
    return {**record, "verdict": verdict, "reason": reason, "exit_code": result.exit_code, "message": message.replace(str(root), "$TMP"),
            "files_left": left[:20], "wall_s": round(wall, 2),
            "output": result.output.replace(str(root), "$TMP")[-1500:]}


def table(records: list[dict], wall: float, command: str) -> str:
    """Counts per command and overall, then every weak and fail case with its message."""
    counts = {k: Counter(r["verdict"] for r in records if r["command"] == k) for k in COMMANDS}
    total = Counter(r["verdict"] for r in records)
    lines = [f"# Hostile inputs (issue 22): {len(records)} cases", "", f"`{command}` — {wall:.0f} s wall", "",
             "| command | cases | pass | weak | fail | skipped |", "|---|---|---|---|---|---|"]
    for k, n in [*counts.items(), ("**all**", total)]:
        lines.append(f"| {k} | {sum(n.values())} | {n['pass']} | {n['weak']} | {n['fail']} | {n['skipped']} |")
    for verdict in ("fail", "weak", "skipped"):
        rows = [r for r in records if r["verdict"] == verdict]
        if rows:
            lines += ["", f"## {verdict} ({len(rows)})", "", "| command | case | exit | why | first message line | files left |",
                      "|---|---|---|---|---|---|"]
            lines += [f"| {r['command']} | {r['case']} | {r['exit_code']} | {r['reason']} | {r['message'].replace('|', '/')} | "
                      f"{' '.join(r['files_left'][:4]).replace('|', '/')} |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--timeout", type=int, default=60, help="seconds before a case counts as a hang")
    p.add_argument("--only", help="run only this command's cases")
    p.add_argument("--tmp", help="folder for the fixtures and case folders (default: the system's temp folder)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="hostile-", dir=args.tmp))
    try:
        fix = fixtures(root / "fix")
        print(f"fixtures ready in {time.perf_counter() - start:.0f} s", flush=True)
        records = []
        todo = [c for c in cases() if args.only in (None, c["command"])]
        for c in todo:
            records.append(run_case(c, root, fix, args.timeout))
            r = records[-1]
            print(f"{r['verdict']:7s} {r['command']:11s} {r['case']:45s} exit {r['exit_code']}  {r['message'][:100]}", flush=True)
        wall = time.perf_counter() - start
        with open(args.out / "cases.jsonl", "w") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        command = "PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/hostile.py --out " + str(args.out)
        (args.out / "table.md").write_text(table(records, wall, command))
        print(table(records, wall, command))
    finally:
        (root / "fix" / "ro").chmod(0o755) if (root / "fix" / "ro").exists() else None
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
