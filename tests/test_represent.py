import numpy as np
import pytest
import torch
from conftest import TWO_LEVEL

import denoscope.representation.extract as extract_module
from denoscope import rng
from denoscope.checkpoint import file_hash, load_denoiser, save_weights
from denoscope.data import open_source
from denoscope.data.dataset import to_tensor
from denoscope.denoiser import Denoiser
from denoscope.errors import ConfigError, DataError
from denoscope.nn.unet import BlindUNet
from denoscope.representation import RepConfig, Representation, default_sigmas, represent

DATA = "synthetic:shapes?n=12&size=16&seed=2"


@pytest.fixture(scope="module")
def model(two_level_weights):
    return two_level_weights


def rep_config(**overrides) -> RepConfig:
    return RepConfig(**{**dict(sigmas=(0.0, 0.2, 0.5), draws=3, blocks=("enc1", "mid"), inputs=True, seed=4, maps=5), **overrides})


def extract(model, out, batch_images=4, **overrides):
    return represent(load_denoiser(model), open_source(DATA), rep_config(**overrides), out, batch_images=batch_images)


def test_phi_is_the_mean_over_keyed_draws_of_the_middle_block_means(model, tmp_path):
    extract(model, tmp_path / "rep")
    rep = Representation(tmp_path / "rep")
    images = open_source(DATA)
    d = load_denoiser(model)
    i = 7
    x = to_tensor(images[i])[None]
    for s, sigma in enumerate((0.0, 0.2, 0.5)):
        draws = 1 if sigma == 0 else 3
        z = torch.cat([rng.image_noise(x.shape[1:], 4, [i], draw=k) for k in range(draws)])
        with torch.no_grad():
            expected = d.means(x + sigma * z, ("mid",))["mid"].mean(0).numpy()
        np.testing.assert_allclose(rep.means("mid")[i, s], expected, rtol=1e-5, atol=1e-6)
    assert rep.complete and rep.blocks == {"enc1": 8, "mid": 16, "enc1.in": 3, "mid.in": 16}
    np.testing.assert_allclose(rep.means("enc1.in")[i, 0], x.mean((2, 3))[0].numpy(), rtol=1e-5)
    np.testing.assert_array_equal(rep.phi(0.45), rep.means("mid")[:, 2])  # nearest extracted σ
    np.testing.assert_array_equal(rep.labels, images.labels)
    np.testing.assert_array_equal(rep.factors["colour"], images.factors["colour"])
    assert rep.maps().shape == (5, 16, 4, 4) and rep.manifest["maps"]["sigma"] == 0.5
    j = 3
    xj = to_tensor(images[j])[None]
    with torch.no_grad():
        first_draw = d.means(xj + 0.5 * rng.image_noise(xj.shape[1:], 4, [j], draw=0), ("mid",))["mid"][0].numpy()
    np.testing.assert_allclose(rep.maps()[j].mean((1, 2)), first_draw, rtol=1e-5, atol=1e-6)  # φ's first draw, before the mean
    assert rep.manifest["model"]["sha256"] == file_hash(model)


def test_results_do_not_depend_on_the_batch_size(model, tmp_path):
    extract(model, tmp_path / "a", batch_images=1)
    extract(model, tmp_path / "b", batch_images=5)
    for block in ("enc1", "mid", "mid.in"):
        np.testing.assert_allclose(Representation(tmp_path / "a").means(block), Representation(tmp_path / "b").means(block), rtol=1e-5, atol=1e-6)


def test_an_interrupted_extraction_resumes_to_the_same_result(model, tmp_path, monkeypatch):
    extract(model, tmp_path / "full")
    calls = []
    real = extract_module.stack_images

    def dying(images, idx, transform):
        calls.append(1)
        if len(calls) == 3:  # the probe, then two batches of 4 images, then killed
            raise KeyboardInterrupt
        return real(images, idx, transform)

    monkeypatch.setattr(extract_module, "stack_images", dying)
    with pytest.raises(KeyboardInterrupt):
        extract(model, tmp_path / "cut")
    assert not Representation(tmp_path / "cut").complete
    with pytest.raises(DataError, match="incomplete"):
        Representation(tmp_path / "cut").check_complete()
    monkeypatch.setattr(extract_module, "stack_images", real)
    stats = extract(model, tmp_path / "cut").extracted
    assert stats["images"] == 8  # only the unfinished ones
    np.testing.assert_array_equal(Representation(tmp_path / "cut").means("mid"), Representation(tmp_path / "full").means("mid"))


def test_a_different_request_or_model_is_refused_by_name(model, tmp_path):
    extract(model, tmp_path / "rep")
    with pytest.raises(ConfigError, match="other draws"):
        extract(model, tmp_path / "rep", draws=4)
    other = tmp_path / "other.safetensors"
    torch.manual_seed(1)
    save_weights(other, BlindUNet(TWO_LEVEL))
    with pytest.raises(ConfigError, match="other model"):
        represent(load_denoiser(other), open_source(DATA), rep_config(), tmp_path / "rep", model_path=other)
    with pytest.raises(DataError, match="extracted from another model"):
        Representation(tmp_path / "rep").check_model(file_hash(other), str(other))


def test_bad_requests_are_refused(model, tmp_path):
    for bad, message in ((dict(sigmas=(0.2, 0.1)), "ascending"), (dict(sigmas=(float("nan"),)), "finite"),
                         (dict(draws=0), "at least 1"), (dict(blocks=("middle",)), "unknown block")):
        with pytest.raises(ConfigError, match=message):
            extract(model, tmp_path / "rep", **bad)
    with pytest.raises(DataError, match="nothing does not exist; expected a REP folder"):
        Representation(tmp_path / "nothing")


def test_default_sigmas_are_the_authors_clipped_to_the_training_range():
    sigmas, note = default_sigmas(1.0)
    assert sigmas[0] == 0 and sigmas[1] == pytest.approx(10 / 255) and sigmas[-1] == 1.0 and len(sigmas) == 14
    assert "5 of the authors' 19" in note
    assert default_sigmas(3.0) == (tuple(s / 255 for s in extract_module.AUTHORS_SIGMAS), None)


def test_an_extraction_in_memory_answers_as_the_folder_does_and_writes_nothing(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = extract(model, tmp_path / "rep")
    memory = extract(model, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"] and memory.path is None
    assert memory.manifest == folder.manifest and memory.n == folder.n and memory.complete
    np.testing.assert_array_equal(memory.sigmas, folder.sigmas)
    for block in folder.blocks:
        np.testing.assert_array_equal(memory.means(block), folder.means(block))
    np.testing.assert_array_equal(memory.phi(0.2), folder.phi(0.2))
    np.testing.assert_array_equal(memory.maps(), folder.maps())
    np.testing.assert_array_equal(memory.labels, folder.labels)
    assert memory.factors.keys() == folder.factors.keys()
    np.testing.assert_array_equal(memory.factors["shape"], folder.factors["shape"])
    memory.check_model(file_hash(model), "the model")
    saved = memory.save(tmp_path / "saved")
    for name in ("means/enc1", "means/mid.in", "done", "labels", "factors/colour", "maps/mid"):
        np.testing.assert_array_equal(saved.array(name), folder.array(name))
    assert saved.manifest == folder.manifest


def test_without_a_config_the_mid_block_is_extracted_at_the_models_sigmas(model, tmp_path):
    d = load_denoiser(model)
    assert extract_module.model_sigmas(d) == default_sigmas(float("inf"))  # weights alone: no training range known
    assert extract_module.model_sigmas(d, 1.0) == default_sigmas(1.0)
    rep = represent(d, open_source(DATA).subset(1), batch_images=1)
    assert list(rep.blocks) == ["mid"] and rep.manifest["draws"] == 20 and rep.sigmas.tolist() == list(default_sigmas(float("inf"))[0])
    with pytest.raises(ConfigError, match="names the weights"):
        represent(Denoiser(d.net), open_source(DATA), rep_config(), tmp_path / "r")
