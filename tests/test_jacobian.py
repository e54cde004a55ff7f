import math

import numpy as np
import pytest
import torch

from denoscope.analysis.jacobian import adaptive_basis, jacobian
from denoscope.config import model_config
from denoscope.denoiser import Denoiser, GaussianDenoiser
from denoscope.errors import ConfigError
from denoscope.nn.unet import BlindUNet

SHAPE = (1, 4, 4)
N = math.prod(SHAPE)


def gaussian(sigma: float) -> tuple[GaussianDenoiser, torch.Tensor, torch.Tensor]:
    """A Gaussian prior with distinct, known eigenvalues and a random orthonormal eigenbasis."""
    g = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(N, N, generator=g, dtype=torch.float64))
    lam = torch.logspace(-3, 0, N, dtype=torch.float64)
    return GaussianDenoiser(torch.full((N,), 0.5), basis @ torch.diag(lam) @ basis.T, SHAPE, sigma=sigma), lam, basis


class Linear:
    """D(y) = A·y with a non-symmetric A: its Jacobian is A everywhere."""

    def __init__(self, a: torch.Tensor):
        self.a = a

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return (y.flatten(1) @ self.a.T).reshape(y.shape)


def test_the_jacobian_of_the_gaussian_denoiser_is_the_wiener_filter():
    sigma = 0.3
    d, lam, basis = gaussian(sigma)
    y = torch.rand(SHAPE, dtype=torch.float64)
    wiener = basis @ torch.diag(lam / (lam + sigma**2)) @ basis.T
    assert torch.allclose(jacobian(d, y, rows_per_pass=5), wiener, atol=1e-12)


def test_adaptive_basis_of_the_wiener_filter_has_its_known_eigenvalues_eigenvectors_trace_and_mse():
    sigmas = [0.05, 0.3, 1.0]
    d, lam, basis = gaussian(sigmas[0])
    x = torch.rand(SHAPE, dtype=torch.float64)
    for s in sigmas:
        d.sigma = s
        result = adaptive_basis(d, x, [s], seed=1, top=3)
        m, a = result.metrics["per_sigma"][0], result.arrays["jacobian"]
        shrink = (lam / (lam + s**2)).flip(0)
        assert np.allclose(a["eigenvalues"][0], shrink.numpy(), atol=1e-12)
        top = a["eigenvectors"][0].reshape(3, N)
        assert np.allclose(np.abs(top @ basis.flip(1)[:, :3].numpy()), np.eye(3), atol=1e-8)
        assert m["asymmetry"] < 1e-12 and m["trace"] == pytest.approx(float(shrink.sum()), rel=1e-12)
        assert m["sigma2_trace"] == pytest.approx(d.mmse(s) * N, rel=1e-12)  # E‖D(y) − x‖² = σ²·tr J, exactly, for Wiener
    assert result.stage == "jacobian"


def test_a_linear_denoisers_decomposition_is_exact():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(N, N, generator=g, dtype=torch.float64)
    d = Linear(a)
    x = torch.rand(SHAPE, dtype=torch.float64)
    m = adaptive_basis(d, x, [0.2], top=N).metrics["per_sigma"][0]
    arrays = adaptive_basis(d, x, [0.2], top=N).arrays["jacobian"]
    assert m["asymmetry"] == pytest.approx(float((a - a.T).norm() / a.norm()), rel=1e-12)
    assert m["homogeneity"] < 1e-12 and m["trace"] == pytest.approx(float(torch.trace(a)), rel=1e-12)
    vectors = arrays["eigenvectors"][0].reshape(N, N).T
    values = arrays["eigenvalues"][0]
    sym = ((a + a.T) / 2).numpy()
    assert np.allclose(vectors @ np.diag(values) @ vectors.T, sym, atol=1e-12)
    assert np.all(np.diff(values) <= 0)


def tiny(bias: bool, norm: str) -> Denoiser:
    torch.manual_seed(0)
    net = BlindUNet(model_config("tiny", channels=1, bias=bias, norm=norm)).double()
    with torch.no_grad():  # random running stds, so the eval-mode layer is not the identity
        for name, buffer in net.named_buffers():
            if name.endswith("running_std"):
                buffer.uniform_(0.5, 2.0)
    return Denoiser(net, batch_size=32)


def test_a_bias_free_network_is_homogeneous_and_one_with_biases_is_not():
    x = torch.rand(1, 4, 4, dtype=torch.float64)
    free = adaptive_basis(tiny(False, "batch"), x, [0.1, 0.5], top=2).metrics["per_sigma"]
    biased = adaptive_basis(tiny(True, "batch"), x, [0.1, 0.5], top=2).metrics["per_sigma"]
    assert all(m["homogeneity"] < 1e-12 for m in free)
    assert all(m["homogeneity"] > 1e-3 for m in biased)


def test_the_bias_free_batch_norm_network_in_eval_mode_is_homogeneous_of_degree_one():
    y = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    free = tiny(False, "batch")
    assert torch.allclose(free(3 * y), 3 * free(y), atol=1e-12)
    assert not torch.allclose(tiny(True, "batch")(3 * y), 3 * tiny(True, "batch")(y), atol=1e-3)


def test_the_jacobian_is_on_the_inputs_device_and_dtype_and_refuses_large_images():
    d, _, _ = gaussian(0.1)
    j = jacobian(d, torch.rand(SHAPE, dtype=torch.float64))
    assert j.dtype == torch.float64 and j.device.type == "cpu" and j.shape == (N, N)
    with pytest.raises(ConfigError, match="side at most 64"):
        jacobian(d, torch.rand(1, 65, 65))
    with pytest.raises(ConfigError, match="positive finite"):
        adaptive_basis(d, torch.rand(SHAPE), [0.0])


@pytest.mark.slow
def test_the_jacobian_command_writes_its_numbers_and_figures_and_refuses_bad_input_in_one_sentence(tmp_path):
    import json

    from typer.testing import CliRunner

    from denoscope.cli import app

    def invoke(*args):
        return CliRunner().invoke(app, [str(a) for a in args])

    data = "synthetic:shapes?n=24&size=8&seed=5"
    run = tmp_path / "run"
    assert invoke("train", "--data", data, "--preset", "tiny", "--out", run, "--steps", "2", "--batch-size", "4", "--holdout", "4").exit_code == 0
    out = tmp_path / "jac"
    done = invoke("jacobian", "--model", run, "--data", data, "--index", "3", "--sigma", "0.1", "0.3", "--top", "3", "--out", out, "--double")
    assert done.exit_code == 0, done.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sigmas"] == [0.1, 0.3] and metrics["dimension"] == 3 * 8 * 8 and metrics["image"] == 3
    assert {p.name for p in out.iterdir()} == {"metrics.json", "jacobian.npz", "jacobian-spectra.png", "jacobian-eigenvectors.png", "stage.json"}
    for args, words in ((["--index", "99"], "outside"), (["--sigma", "0"], "positive finite"), (["--top", "0"], "--top")):
        bad = tmp_path / "bad"
        done = invoke("jacobian", "--model", run, "--data", data, "--out", bad, *args)
        assert done.exit_code == 1 and "error:" in done.output and words in done.output and "Traceback" not in done.output
        assert not bad.exists()


def test_the_eigenvector_figure_draws_at_most_DRAWN_vectors(tmp_path):
    """`--top` may keep every eigenvector (in jacobian.npz); the figure draws the first DRAWN, as fast as for DRAWN."""
    from PIL import Image

    from denoscope.reporting.jacobian_figures import DRAWN, eigenvector_figure

    def drawn(top: int):
        a = {"sigmas": np.array([0.1]), "eigenvectors": np.random.default_rng(0).normal(size=(1, top, 1, 4, 4)),
             "eigenvalues": np.ones((1, top)), "noisy": np.zeros((1, 1, 4, 4)), "denoised": np.zeros((1, 1, 4, 4))}
        eigenvector_figure(a, tmp_path / f"{top}.png")
        return Image.open(tmp_path / f"{top}.png").size

    assert drawn(3 * DRAWN) == drawn(DRAWN) != drawn(DRAWN - 4)
