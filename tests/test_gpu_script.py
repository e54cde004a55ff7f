"""benchmarks/gpu.sh, in its --cpu form, and the optional packages a GPU machine's own Python may lack."""

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch

from denoscope.analysis.neighbours import cosine_neighbours
from denoscope.checkpoint import config_text, flat_toml
from denoscope.config import PRESETS, TrainConfig, to_dict

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("config", [*PRESETS.values(), TrainConfig(data='a "b"\\c é', ema=0.999, eval_sigmas=(0.05, 1e-5)),
                                    TrainConfig(data="x", image_size=32, flip=False)])
def test_configs_are_written_the_same_without_tomli_w(config):
    tomli_w = pytest.importorskip("tomli_w")
    text = flat_toml(to_dict(config))
    assert text == tomli_w.dumps(to_dict(config))
    assert tomllib.loads(text) == tomllib.loads(config_text(config))


def test_neighbours_are_the_same_without_faiss(monkeypatch):
    pytest.importorskip("faiss")
    x = np.random.default_rng(0).normal(size=(200, 12))
    x[7] = 0
    queries = np.array([0, 7, 50, 199])
    with_faiss = cosine_neighbours(x, queries, 5)
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    without = cosine_neighbours(x, queries, 5)
    np.testing.assert_array_equal(without[0][[0, 2, 3]], with_faiss[0][[0, 2, 3]])  # row 7's cosines all tie at 0
    np.testing.assert_allclose(without[1], with_faiss[1], atol=1e-6)


def benchmark(name: str):
    """A script of benchmarks/, imported as a module."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


@pytest.mark.parametrize("tiny", [True, False])
def test_the_smoke_run_asks_every_command_only_for_options_it_has(tiny, tmp_path):
    import typer.main

    from denoscope.cli import app

    group = typer.main.get_command(app)
    listed = benchmark("smoke").commands(tmp_path, "synthetic:shapes", "cuda", tiny)
    assert {name for name, _ in listed} == set(group.commands) - {"demo"}
    for name, args in listed:
        command = group.commands[args[0]]
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        assert not {a for a in args if a.startswith("--")} - known, name


def test_a_lever_that_fails_costs_its_own_row_only(monkeypatch, tmp_path, capsys):
    throughput = benchmark("throughput")

    def out_of_memory(*args):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")

    monkeypatch.setattr(throughput, "plain_loop", out_of_memory)
    args = argparse.Namespace(preset="tiny", batch=4, steps=2, device="cpu", data=None, variants=["plain", "fp32"])
    rows = list(throughput.training_rows(args, 16, torch.device("cpu"), tmp_path))
    assert [r["variant"] for r in rows] == ["plain", "fp32"]
    assert rows[0]["error"] == "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB" and rows[0]["images_per_s"] is None
    assert "error" not in rows[1] and rows[1]["images_per_s"] > 0 and rows[1]["vs_plain"] is None
    assert "Traceback" in capsys.readouterr().err
    table = throughput.markdown(rows).splitlines()
    assert table[2].endswith("| error |") and table[4].endswith("| RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB |")
    assert table[5].endswith("| – |")


def test_gpu_sh_is_valid_bash_and_says_how_to_run_it():
    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks/gpu.sh")]).returncode == 0
    usage = subprocess.run(["bash", str(ROOT / "benchmarks/gpu.sh"), "--help"], capture_output=True, text=True).stdout
    assert "PYTHONPATH=src bash benchmarks/gpu.sh" in usage and "--cpu" in usage


def test_the_cpu_form_of_gpu_sh_runs_every_command_and_writes_its_tables(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks/gpu.sh"), "--cpu"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((tmp_path / "smoke.json").read_text())
    assert [r["command"] for r in rows] == ["train", "denoise", "represent", "analyse", "sample", "inverse", "reconstruct",
                                            "distance", "report", "draw", "jacobian", "generalize"]
    assert all(r["exit_code"] == 0 and r["wall_s"] > 0 for r in rows)
    assert json.loads((tmp_path / "environment.json").read_text())["missing_required"] == []
    table = (tmp_path / "throughput/throughput.md").read_text()
    assert all(f"### {kind}" in table for kind in ("training", "extraction", "sampling"))
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "throughput/throughput.jsonl").read_text().splitlines()]
    assert kinds.count("training") == 4 and "extraction" in kinds and "sampling" in kinds
    assert (tmp_path / "summary.md").read_text() in done.stdout
