import functools
import math

import numpy as np
import pytest
import scipy.fft
import torch

from denoscope.errors import ConfigError
from denoscope.sampling.operators import (
    BlockAverage,
    CompressiveSensing,
    MissingBox,
    RandomPixels,
    SpectralLowpass,
    dct_matrix,
    make_operator,
)

SHAPES = [(1, 8, 12), (3, 16, 16), (2, 6, 10)]
BUILDERS = {
    "pixels": lambda s, seed: RandomPixels(s, fraction=0.05 + 0.9 * np.random.default_rng(seed).random(), seed=seed),
    "box": lambda s, seed: MissingBox(s, top=seed % (s[1] // 2), left=1, height=s[1] // 2, width=s[2] - 2),
    "superres": lambda s, seed: BlockAverage(s, factor=2),
    "superres-coarsest": lambda s, seed: BlockAverage(s, factor=math.gcd(s[1], s[2])),
    "deblur": lambda s, seed: SpectralLowpass(s, radius=1.5 + seed % 5),
    "deblur-sigma": lambda s, seed: SpectralLowpass.from_gaussian_blur(s, blur_sigma=2.0),
    "cs": lambda s, seed: CompressiveSensing(s, m=1 + seed % (math.prod(s) - 1), seed=seed),
    "cs-full": lambda s, seed: CompressiveSensing(s, m=math.prod(s), seed=seed),
    "default-pixels": lambda s, seed: make_operator("pixels", s, seed=seed),
    "default-box": lambda s, seed: make_operator("box", s),
    "default-deblur": lambda s, seed: make_operator("deblur", s),
    "default-cs": lambda s, seed: make_operator("cs", s, seed=seed),
}
CASES = [(name, shape, seed) for name in BUILDERS for shape in SHAPES for seed in (3, 1234)]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These products are tiny: extra threads only wait for busy cores, a thousandfold slowdown under load."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def build(name, shape, seed):
    return BUILDERS[name](shape, seed)  # once per case: QR and DCT set-up dominate the run time otherwise


@pytest.fixture(params=CASES, ids=lambda p: f"{p[0]}-{'x'.join(map(str, p[1]))}-{p[2]}")
def case(request):
    name, shape, seed = request.param
    return build(name, shape, seed), torch.Generator().manual_seed(seed)


def images(op, gen, batch=3):
    return torch.randn(batch, *op.shape, generator=gen, dtype=torch.float64)


def dot(a, b):
    return (a * b).flatten(1).sum(1)


def test_measure_is_the_transpose_of_a_matrix_with_orthonormal_columns(case):
    op, gen = case
    matrix = op.adjoint(torch.eye(op.m, dtype=torch.float64)).reshape(op.m, -1).T  # N×m, column j = M e_j
    assert matrix.shape == (math.prod(op.shape), op.m)
    torch.testing.assert_close(matrix.T @ matrix, torch.eye(op.m, dtype=torch.float64), rtol=0, atol=1e-12)
    x = images(op, gen)
    torch.testing.assert_close(op.measure(x), x.flatten(1) @ matrix, rtol=0, atol=1e-12)


def test_adjoint_is_the_adjoint_and_measuring_it_gives_back_c(case):
    op, gen = case
    x, c = images(op, gen), torch.randn(3, op.m, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(dot(op.measure(x), c), dot(x, op.adjoint(c)), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(op.measure(op.adjoint(c)), c, rtol=0, atol=1e-12)


def test_project_is_an_orthogonal_projection(case):
    op, gen = case
    x, y = images(op, gen), images(op, gen)
    p = op.project(x)
    torch.testing.assert_close(op.project(p), p, rtol=0, atol=1e-12)
    torch.testing.assert_close(dot(p, y), dot(x, op.project(y)), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dot(p, x - p), torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-10)
    torch.testing.assert_close(dot(p, p) + dot(x - p, x - p), dot(x, x), rtol=1e-12, atol=0)
    torch.testing.assert_close(op.pseudo_inverse(op.measure(x)), p, rtol=0, atol=0)


def test_products_keep_the_input_dtype_and_shapes(case):
    op, gen = case
    x = images(op, gen, batch=2).float()
    c = op.measure(x)
    assert c.dtype == torch.float32 and c.shape == (2, op.m)
    back = op.adjoint(c)
    assert back.dtype == torch.float32 and back.shape == (2, *op.shape)
    torch.testing.assert_close(op.measure(back), c, rtol=1e-4, atol=1e-5)


def test_to_returns_a_working_copy(case):
    op, gen = case
    moved = op.to("cpu")
    assert moved is not op and (moved.shape, moved.m, moved.name) == (op.shape, op.m, op.name)
    x = images(op, gen)
    torch.testing.assert_close(moved.measure(x), op.measure(x), rtol=0, atol=0)


def test_block_average_of_a_constant_is_factor_times_it_and_inverts_to_it():
    for factor in (1, 2, 4):
        op = BlockAverage((3, 8, 16), factor)
        x = torch.full((2, 3, 8, 16), 0.7, dtype=torch.float64)
        c = op.measure(x)
        assert op.m == 3 * (8 // factor) * (16 // factor)
        torch.testing.assert_close(c, torch.full_like(c, 0.7 * factor), rtol=0, atol=1e-14)
        torch.testing.assert_close(op.pseudo_inverse(c), x, rtol=0, atol=1e-14)


def test_block_average_measures_each_block_of_each_channel():
    x = torch.arange(2 * 4 * 4, dtype=torch.float64).reshape(1, 2, 4, 4)
    expected = torch.tensor([[0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15]], dtype=torch.float64) / 2
    torch.testing.assert_close(BlockAverage((2, 4, 4), 2).measure(x), torch.cat([expected, expected + 4 * 16 / 2], 1))


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.25, 0.5, 0.999, 1.0])
@pytest.mark.parametrize("shape", [(1, 8, 12), (3, 16, 16)])
def test_random_pixels_keeps_round_fraction_of_the_locations_in_all_channels(fraction, shape):
    c, h, w = shape
    if round(fraction * h * w) == 0:
        with pytest.raises(ConfigError, match="fraction"):
            RandomPixels(shape, fraction, seed=1)
        return
    op = RandomPixels(shape, fraction, seed=1)
    assert op.m == c * round(fraction * h * w)
    kept = op.project(torch.ones(1, *shape, dtype=torch.float64))[0]
    assert set(kept.unique().tolist()) <= {0.0, 1.0}
    assert (kept == kept[0]).all()  # the same locations in every channel
    assert int(kept[0].sum()) == round(fraction * h * w)


def test_random_pixels_are_set_by_the_seed():
    masks = {seed: RandomPixels((1, 16, 16), 0.2, seed).index for seed in (0, 1)}
    assert torch.equal(masks[0], RandomPixels((1, 16, 16), 0.2, 0).index)
    assert not torch.equal(masks[0], masks[1])


def test_missing_box_inverts_to_zero_inside_and_x_outside():
    op = MissingBox((3, 10, 12), top=2, left=5, height=4, width=6)
    x = torch.randn(2, 3, 10, 12, dtype=torch.float64)
    inside = torch.zeros(10, 12, dtype=torch.bool)
    inside[2:6, 5:11] = True
    assert op.m == 3 * (10 * 12 - 4 * 6)
    restored = op.pseudo_inverse(op.measure(x))
    assert (restored[..., inside] == 0).all()
    assert torch.equal(restored[..., ~inside], x[..., ~inside])


def test_default_box_is_the_central_half():
    op = make_operator("box", (1, 16, 12))
    restored = op.pseudo_inverse(op.measure(torch.ones(1, 1, 16, 12)))[0, 0]
    assert restored[4:12, 3:9].abs().sum() == 0 and restored.sum() == 16 * 12 - 8 * 6


def test_dct_matrix_is_scipys_orthonormal_dct_ii():
    for n in (1, 5, 16):
        x = np.random.default_rng(n).standard_normal(n)
        np.testing.assert_allclose(dct_matrix(n).numpy() @ x, scipy.fft.dct(x, norm="ortho"), rtol=0, atol=1e-12)


def test_spectral_lowpass_measures_the_low_dct_coefficients_in_order():
    op = SpectralLowpass((2, 6, 8), radius=2.5)
    x = torch.randn(1, 2, 6, 8, dtype=torch.float64)
    coefficients = torch.from_numpy(scipy.fft.dctn(x.numpy(), axes=(2, 3), norm="ortho"))
    low = [(i, j) for i in range(6) for j in range(8) if i * i + j * j <= 2.5**2]
    expected = torch.stack([coefficients[0, ch, i, j] for ch in range(2) for i, j in low]).unsqueeze(0)
    torch.testing.assert_close(op.measure(x), expected, rtol=0, atol=1e-12)


def test_spectral_lowpass_keeps_a_constant_and_kills_a_checkerboard():
    shape = (3, 16, 12)
    rows, cols = torch.meshgrid(torch.arange(16), torch.arange(12), indexing="ij")
    checkerboard = ((-1.0) ** (rows + cols)).to(torch.float64).expand(1, *shape)
    highest = torch.outer(dct_matrix(16)[-1], dct_matrix(12)[-1]).expand(1, *shape)  # the top DCT basis image
    for radius in (0.0, 3.0, 10.0):
        op = SpectralLowpass(shape, radius)
        constant = torch.full((1, *shape), -1.3, dtype=torch.float64)
        torch.testing.assert_close(op.project(constant), constant, rtol=0, atol=1e-12)
        assert op.project(highest).abs().max() < 1e-12
        assert op.project(checkerboard).square().sum() < 1e-2 * checkerboard.square().sum()
    everything = SpectralLowpass(shape, math.hypot(15, 11))
    assert everything.m == math.prod(shape)
    torch.testing.assert_close(everything.project(checkerboard), checkerboard, rtol=0, atol=1e-12)


def test_gaussian_blur_radius_keeps_the_frequencies_passed_above_threshold():
    shape, sigma, threshold = (1, 32, 24), 1.5, 0.05
    op = SpectralLowpass.from_gaussian_blur(shape, sigma, threshold)
    assert op.radius == pytest.approx(32 * math.sqrt(2 * math.log(1 / threshold)) / (math.pi * sigma))
    kh, kw = torch.meshgrid(torch.arange(32.0), torch.arange(24.0), indexing="ij")
    gain = torch.exp(-((math.pi * kh / 32) ** 2 + (math.pi * kw / 24) ** 2) * sigma**2 / 2)
    assert op.keep[gain >= threshold].all()
    assert SpectralLowpass.from_gaussian_blur(shape, 2 * sigma, threshold).m < op.m


def test_default_deblur_keeps_about_a_sixteenth():
    for shape in [(1, 16, 16), (3, 64, 48)]:
        op = make_operator("deblur", shape)
        kept = op.m / math.prod(shape)
        assert 1 / 16 <= kept < 1.25 / 16


def test_compressive_sensing_has_m_orthonormal_columns_set_by_the_seed():
    op = CompressiveSensing((2, 8, 8), m=13, seed=5)
    assert op.basis.shape == (128, 13)
    torch.testing.assert_close(op.basis.T @ op.basis, torch.eye(13, dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.equal(op.basis, CompressiveSensing((2, 8, 8), 13, seed=5).basis)
    assert not torch.allclose(op.basis, CompressiveSensing((2, 8, 8), 13, seed=6).basis)
    assert make_operator("cs", (3, 16, 16)).m == 76


def test_default_measurement_sizes():
    shape = (3, 16, 16)
    assert make_operator("pixels", shape).m == 3 * round(0.1 * 256)
    assert make_operator("superres", shape).m == 3 * 4 * 4
    assert make_operator("superres", shape, factor=2).m == 3 * 8 * 8


@pytest.mark.parametrize(
    ("build", "word"),
    [
        (lambda: RandomPixels((1, 8, 8), 0.0, 0), "fraction"),
        (lambda: RandomPixels((1, 8, 8), -0.2, 0), "fraction"),
        (lambda: RandomPixels((1, 8, 8), 1.5, 0), "fraction"),
        (lambda: RandomPixels((1, 8, 8), 0.001, 0), "fraction"),
        (lambda: RandomPixels((1, 0, 8), 0.5, 0), "shape"),
        (lambda: RandomPixels((8, 8), 0.5, 0), "shape"),
        (lambda: MissingBox((1, 8, 8), 0, 0, 8, 8), "covers"),
        (lambda: MissingBox((1, 8, 8), 6, 0, 4, 2), "box"),
        (lambda: MissingBox((1, 8, 8), -1, 0, 2, 2), "box"),
        (lambda: MissingBox((1, 8, 8), 0, 0, 0, 2), "box"),
        (lambda: BlockAverage((1, 8, 12), 5), "factor"),
        (lambda: BlockAverage((1, 8, 12), 0), "factor"),
        (lambda: BlockAverage((1, 8, 12), 2.5), "factor"),
        (lambda: SpectralLowpass((1, 8, 8), -1.0), "radius"),
        (lambda: SpectralLowpass((1, 8, 8), float("nan")), "radius"),
        (lambda: SpectralLowpass.from_gaussian_blur((1, 8, 8), 0.0), "blur_sigma"),
        (lambda: SpectralLowpass.from_gaussian_blur((1, 8, 8), 1.0, 1.0), "threshold"),
        (lambda: CompressiveSensing((1, 4, 4), 0), "m"),
        (lambda: CompressiveSensing((1, 4, 4), 17), "m"),
        (lambda: make_operator("denoise", (1, 8, 8)), "task"),
        (lambda: make_operator("pixels", (1, 8, 8), factor=2), "factor"),
        (lambda: make_operator("superres", (1, 6, 6)), "factor"),
        (lambda: make_operator("deblur", (1, 8, 8), radius=2, blur_sigma=1), "radius"),
        (lambda: make_operator("deblur", (1, 8, 8), threshold=0.1), "threshold"),
        (lambda: BlockAverage((1, 8, 8), 2).measure(torch.zeros(1, 1, 8, 4)), "expects images"),
        (lambda: BlockAverage((1, 8, 8), 2).adjoint(torch.zeros(1, 15)), "expects measurements"),
    ],
)
def test_bad_arguments_raise_config_error_naming_them(build, word):
    with pytest.raises(ConfigError, match=word):
        build()
