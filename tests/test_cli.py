import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from denoscope.cli import app

DATA = "synthetic:shapes?n=48&size=16&seed=5"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_sentence_error(done, *words: str) -> None:
    assert done.exit_code == 1, done.output
    assert "error:" in done.output and "Traceback" not in done.output
    for w in words:
        assert w in done.output, done.output


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    done = invoke("train", "--data", DATA, "--preset", "tiny", "--out", out, "--steps", "4", "--batch-size", "8", "--holdout", "8", "--eval-every", "2")
    assert done.exit_code == 0, done.output
    return out


def test_train_then_denoise_through_the_cli(run, tmp_path):
    config = (run / "config.toml").read_text()
    assert 'data = "synthetic:shapes?n=48&size=16&seed=5"' in config and 'norm = "layer"' in config
    out = tmp_path / "eval"
    done = invoke("denoise", "--model", run, "--data", "synthetic:shapes?n=6&size=18&seed=9", "--sigma", "0.1", "0.3", "--out", out)
    assert done.exit_code == 0, done.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 6 and set(metrics["sigma"]) == {"0.1", "0.3"}
    assert metrics["padded"] == 6 and "padded" in done.output  # 18 is not a multiple of 4
    assert abs(metrics["sigma"]["0.1"]["psnr_input"] - 20) < 0.5
    again = invoke("denoise", "--model", run, "--data", "synthetic:shapes?n=2&size=16", "--sigma", "0.2", "--sigma", "0.4", "--out", out)
    assert again.exit_code == 0, again.output
    assert set(json.loads((out / "metrics.json").read_text())["sigma"]) == {"0.2", "0.4"}


def test_resume_takes_the_definition_from_the_run_and_refuses_changes_by_name(run):
    done = invoke("train", "--out", run, "--resume", "--steps", "6", "--log-every", "1")  # no --data needed
    assert done.exit_code == 0, done.output
    one_sentence_error(invoke("train", "--out", run, "--resume", "--steps", "8", "--lr", "0.01"), "lr was 0.001, now 0.01")
    one_sentence_error(invoke("train", "--out", run, "--resume", "--steps", "8", "--data", "synthetic:shapes?n=9"), "data was")


@pytest.mark.parametrize("args, words", [
    (["--steps", "0"], ["steps must be at least 1"]),
    (["--steps", "-1"], ["steps must be at least 1"]),
    (["--epochs", "0"], ["epochs must be at least 1"]),
    (["--steps", "2", "--log-every", "0"], ["log_every must be at least 1"]),
    (["--steps", "2", "--checkpoint-every", "0"], ["checkpoint_every must be at least 1"]),
    (["--steps", "2", "--lr-halve-every", "0"], ["lr_halve_every must be a positive"]),
    (["--steps", "2", "--holdout", "0"], ["holdout must be at least 1"]),
    (["--steps", "2", "--sigma-max", "nan"], ["sigma_max must be a positive finite"]),
    (["--steps", "2", "--device", "cuda"], ["no CUDA GPU"]),
    (["--steps", "2", "--preset", "huge"], ["unknown preset 'huge'"]),
])
def test_bad_training_options_exit_1_with_one_sentence_and_write_nothing(tmp_path, args, words):
    done = invoke("train", "--data", DATA, "--out", tmp_path / "run", *args)
    one_sentence_error(done, *words)
    assert not (tmp_path / "run").exists()


def test_bad_inputs_exit_non_zero_with_one_clear_sentence(run, tmp_path):
    done = invoke("train", "--data", tmp_path / "missing", "--preset", "tiny", "--out", tmp_path / "r", "--steps", "2")
    one_sentence_error(done, "missing", "no such file")
    assert not (tmp_path / "r").exists()
    one_sentence_error(invoke("train", "--data", DATA, "--preset", "tiny", "--out", run, "--steps", "2"), "already holds a training run")
    one_sentence_error(invoke("train", "--out", tmp_path / "new", "--steps", "2"), "--data is required")

    gray = tmp_path / "gray"
    gray.mkdir()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(gray / "a.png")
    done = invoke("denoise", "--model", run, "--data", gray, "--out", tmp_path / "eval")
    one_sentence_error(done, "3-channel images, but the data has 1 channel")
    assert not (tmp_path / "eval").exists()
    for sigma in ("nan", "0", "-1"):
        one_sentence_error(invoke("denoise", "--model", run, "--data", DATA, "--sigma", sigma, "--out", tmp_path / "e2"), "positive finite")
    assert not (tmp_path / "e2").exists()


def test_unwritable_outputs_are_refused_in_one_sentence(run, tmp_path):
    (tmp_path / "file").write_text("x")
    one_sentence_error(invoke("denoise", "--model", run, "--data", DATA, "--out", tmp_path / "file" / "out"), "is a file, not a folder")
    one_sentence_error(invoke("train", "--data", DATA, "--out", "/proc/denoscope-run", "--steps", "2"), "/proc/denoscope-run")


def test_represent_analyse_and_the_sampling_stages_through_the_cli(run, tmp_path):
    data = "synthetic:shapes?n=120&size=16&seed=7"
    rep = tmp_path / "rep"
    done = invoke("represent", "--model", run, "--data", data, "--out", rep, "--noise-draws", "2", "--sigma", "0", "0.2", "0.5", "--maps", "16")
    assert done.exit_code == 0, done.output
    done = invoke("analyse", "--rep", rep, "--images", data, "--out", tmp_path / "ana", "--k", "4")
    assert done.exit_code == 0, done.output
    metrics = json.loads((tmp_path / "ana" / "metrics.json").read_text())
    assert {"sparsity", "stability", "selectivity", "clusters", "neighbours", "probes", "factors", "findings"} <= set(metrics)
    assert ("holds" in done.output or "does not hold" in done.output)
    one_sentence_error(invoke("analyse", "--rep", rep, "--images", "synthetic:shapes?n=10&size=16", "--out", tmp_path / "a2"), "holds 10 images")

    fast = ["--max-steps", "3", "--seed", "1"]
    done = invoke("sample", "--model", run, "--n", "2", "--out", tmp_path / "s", *fast)
    assert done.exit_code == 0, done.output
    s = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert s["images"] == 2 and s["status"] == ["max_steps", "max_steps"] and (tmp_path / "s" / "samples.png").exists()
    done = invoke("inverse", "--model", run, "--data", data, "--task", "superres", "--n", "2", "--out", tmp_path / "i", *fast)
    assert done.exit_code == 0, done.output
    i = json.loads((tmp_path / "i" / "metrics.json").read_text())
    assert len(i["psnr"]) == len(i["psnr_pseudo_inverse"]) == 2
    done = invoke("reconstruct", "--model", run, "--data", data, "--index", "3", "--n", "2", "--out", tmp_path / "r", "--noise-draws", "2", *fast)
    assert done.exit_code == 0, done.output
    r = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert len(r["phi_match_error"]) == 2
    done = invoke("reconstruct", "--model", run, "--rep", rep, "--cluster", "1", "--k", "4", "--n", "2", "--out", tmp_path / "rc", *fast)
    assert done.exit_code == 0, done.output
    (named,) = json.loads((tmp_path / "rc" / "metrics.json").read_text())["targets"]
    assert named["label"].startswith("cluster 1 of 4 (") and named["label"].endswith(f"in {rep}") and named["rep"] == str(rep)
    from denoscope.checkpoint import load_denoiser
    from denoscope.representation import Representation
    from denoscope.sampling.engine import DiffusionConfig
    from denoscope.sampling.stages import reconstruct

    two = reconstruct(load_denoiser(run), rep=Representation(rep), cluster=[0, 1], k=4, n=1, config=DiffusionConfig(max_steps=2))
    assert [t["cluster"] for t in two.metrics["targets"]] == [0, 1] and all(t["rep"] == str(rep) for t in two.metrics["targets"])
    assert len(two.arrays["reconstruct"]["samples"]) == 2
    done = invoke("distance", "--model", run, "--data", data, "--pairs", "2", "--n", "2", "--levels", "3", "--out", tmp_path / "d", "--noise-draws", "2", *fast)
    assert done.exit_code == 0, done.output
    d = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert len(d["d2"]) == 2 and "B_over_A" in d


def test_the_chunk_fills_the_device_without_changing_what_comes_out(run, tmp_path, monkeypatch):
    import denoscope.checkpoint

    chunks, load = [], denoscope.checkpoint.load_denoiser
    monkeypatch.setattr(denoscope.checkpoint, "load_denoiser", lambda *a, **k: chunks.append(k["batch_size"]) or load(*a, **k))
    for chunk in (1, 64):
        done = invoke("sample", "--model", run, "--n", "5", "--max-steps", "12", "--seed", "1", "--chunk", chunk, "--out", tmp_path / f"s{chunk}")
        assert done.exit_code == 0, done.output
        done = invoke("represent", "--model", run, "--data", DATA, "--noise-draws", "3", "--sigma", "0.2", "0.5", "--maps", "4",
                      "--batch-size", "4", "--chunk", chunk, "--out", tmp_path / f"r{chunk}")
        assert done.exit_code == 0, done.output
    assert chunks == [1, 1, 64, 64]
    one, all_ = (np.load(tmp_path / f"s{c}" / "samples.npz") for c in (1, 64))
    np.testing.assert_array_equal(one["steps"], all_["steps"])
    np.testing.assert_allclose(one["samples"], all_["samples"], atol=1e-5)
    from denoscope.representation import Representation

    np.testing.assert_allclose(Representation(tmp_path / "r1").phi(0.5), Representation(tmp_path / "r64").phi(0.5), rtol=1e-5, atol=1e-6)
    one_sentence_error(invoke("sample", "--model", run, "--chunk", "0", "--out", tmp_path / "s0"), "--chunk must be at least 1")
    one_sentence_error(invoke("represent", "--model", run, "--data", DATA, "--chunk", "-2", "--out", tmp_path / "r0"), "--chunk must be at least 1")
    assert not (tmp_path / "s0").exists() and not (tmp_path / "r0").exists()


def test_bad_sampling_requests_are_one_sentence(run, tmp_path):
    one_sentence_error(invoke("sample", "--model", run, "--n", "0", "--out", tmp_path / "s"), "n must be at least 1")
    one_sentence_error(invoke("sample", "--model", run, "--max-steps", "0", "--out", tmp_path / "s"), "max_steps must be at least 1")
    one_sentence_error(invoke("inverse", "--model", run, "--data", DATA, "--task", "magic", "--out", tmp_path / "i"), "magic")
    one_sentence_error(invoke("reconstruct", "--model", run, "--out", tmp_path / "r"), "either images with index")
    one_sentence_error(invoke("reconstruct", "--model", run, "--data", DATA, "--index", "999", "--out", tmp_path / "r"), "index 999 is outside")
    one_sentence_error(invoke("distance", "--model", run, "--data", DATA, "--tolerance", "0", "--out", tmp_path / "d"), "tolerance must lie in (0, 1)")
    for option, value, says in (("--baselines", "-1", "baselines must be at least 0"), ("--probe-images", "0", "probe_images must be at least 1"),
                                ("--assess-sigma", "nan", "assess_sigma must be a finite")):
        one_sentence_error(invoke("reconstruct", "--model", run, "--data", DATA, "--index", "0", option, value, "--out", tmp_path / "r"), says)
    assert not any((tmp_path / p).exists() for p in ("s", "i", "r", "d"))


def test_the_quick_demo_runs_every_stage_and_ends_in_the_report(demo_out):
    out, output = demo_out
    for path in ("run/model.safetensors", "denoise/metrics.json", "rep/manifest.json", "analysis/metrics.json",
                 "samples/samples.png", "reconstruct/reconstruct.png", "reconstruct-clusters/reconstruct.png",
                 "analysis/figures/sparsity.png", "analysis/figures/clusters.png", "report/index.html", "report/explorer.html"):
        assert (out / path).exists(), path
    assert f"report: {(out / 'report' / 'index.html').resolve()}" in output.replace("\n", "")


def test_a_loaded_model_starts_from_the_mean_of_its_training_data(run):
    import torch

    from denoscope.checkpoint import load_denoiser
    from denoscope.data import open_source
    from denoscope.data.dataset import mean_image
    from denoscope.sampling.inputs import start_image, trained_on

    d = load_denoiser(run)
    mean, where = start_image(d)
    torch.testing.assert_close(mean, mean_image(open_source(DATA)))
    assert where == f"the mean of up to 1000 images of {DATA}" and trained_on(d).data == DATA


def test_version_names_the_installed_package_and_torch():
    from importlib.metadata import version

    import torch

    done = CliRunner().invoke(app, ["--version"])
    assert done.exit_code == 0 and done.output.strip() == f"denoscope {version('denoscope')} (torch {torch.__version__})", done.output
