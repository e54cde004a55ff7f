"""The explorer's numbers: the 2-D map of φ on planted structure, channel histograms and activation maps, and the data
files read back as the arrays they were written from."""

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from denoscope.analysis.embedding import TSNE_MAX, pca_map, phi_map, tsne_map
from denoscope.errors import ConfigError
from denoscope.reporting.build import Figure, image
from denoscope.reporting.explorer import ExplorerData, channel_histograms, top_maps, write_explorer


def planted_plane(n: int = 400, c: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """φ = m + a·u + b·v with orthonormal u, v and centred, uncorrelated a, b, std(a) ≈ 3·std(b): its principal
    components are exactly a and b."""
    rng = np.random.default_rng(seed)
    u, v = np.linalg.qr(rng.normal(size=(c, 2)))[0].T
    a, b = rng.normal(0, 3, n), rng.normal(0, 1, n)
    a, b = a - a.mean(), b - b.mean()
    b -= a * (a @ b) / (a @ a)
    return 5 + np.outer(a, u) + np.outer(b, v), a, b


def test_pca_map_recovers_the_planted_plane():
    phi, a, b = planted_plane()
    m = pca_map(phi)
    assert m["method"] == "pca" and m["coords"].shape == (len(phi), 2) and m["coords"].dtype == np.float32
    for axis, truth in enumerate((a, b)):
        np.testing.assert_allclose(np.abs(m["coords"][:, axis]), np.abs(truth), atol=1e-4)
    share = np.array([a.var(), b.var()]) / (a.var() + b.var())
    np.testing.assert_allclose(m["explained_variance_ratio"], share, rtol=1e-6)


def test_tsne_map_keeps_far_apart_groups_apart():
    rng = np.random.default_rng(1)
    phi = np.concatenate([rng.normal(0, 1, (40, 8)), rng.normal(30, 1, (40, 8))])
    coords = phi_map(phi, "tsne", seed=3)["coords"]
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1) + np.eye(80) * 1e9
    group = np.arange(80) >= 40
    assert (group[d.argmin(1)] == group).all()
    np.testing.assert_array_equal(coords, tsne_map(phi, seed=3)["coords"])


@pytest.mark.parametrize("call, words", [
    (lambda: tsne_map(np.zeros((TSNE_MAX + 1, 2))), "use the PCA map"),
    (lambda: phi_map(np.ones((5, 3)), "umap"), "one of pca, tsne"),
    (lambda: pca_map(np.ones((1, 3))), "at least 2 images"),
    (lambda: pca_map(np.full((5, 3), np.nan)), "finite"),
])
def test_maps_refuse_what_they_cannot_map(call, words):
    with pytest.raises(ConfigError, match=words):
        call()


def test_channel_histograms_count_every_image_in_its_bin():
    phi = np.array([[0.0, 2.0, 1.0], [1.0, 2.0, 1.0], [0.5, 2.0, 1.0], [0.26, 2.0, 1.0]], np.float32)
    h = channel_histograms(phi, bins=4)
    np.testing.assert_array_equal(h["counts"], [[1, 1, 1, 1], [4, 0, 0, 0], [4, 0, 0, 0]])
    assert h["lo"] == [0.0, 2.0, 1.0] and h["hi"] == [1.0, 2.0, 1.0]
    big = np.random.default_rng(0).random((1000, 7)).astype(np.float32) ** 3
    h = channel_histograms(big, bins=10)
    np.testing.assert_array_equal(h["counts"].sum(1), 1000)
    for c in range(7):
        np.testing.assert_array_equal(h["counts"][c], np.histogram(big[:, c], bins=10, range=(h["lo"][c], h["hi"][c]))[0])


def test_top_maps_are_the_strongest_images_that_have_maps():
    rng = np.random.default_rng(2)
    phi = rng.random((50, 6)).astype(np.float32)
    maps = rng.random((20, 6, 3, 3)).astype(np.float32)
    ids, values = top_maps(phi, maps, t=4)
    assert ids.shape == (6, 4) and values.shape == (6, 4, 3, 3)
    for c in range(6):
        np.testing.assert_array_equal(ids[c], np.argsort(-phi[:20, c])[:4])
        np.testing.assert_array_equal(values[c], maps[ids[c], c])


def script_payload(path: Path, call: str) -> dict:
    text = path.read_text()
    assert text.startswith(f"{call}(") and text.rstrip().endswith(");")
    return json.loads(text[len(call) + 1 : text.rindex(")")])


def unb64(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<"))


def small_data(tmp_path: Path, **extra) -> ExplorerData:
    rng = np.random.default_rng(3)
    phi = rng.random((30, 5)).astype(np.float32)
    order = np.argsort(-phi, axis=0)[:4].T
    return ExplorerData(phi=phi, title="t", rep=tmp_path, source="s", sigma=0.5, channel_pr=rng.random(5), channel_mean=phi.mean(0),
                        channel_top=order, channel_top_values=np.take_along_axis(phi.T, order, 1), labels=np.arange(30, dtype=np.int16) % 3,
                        class_names=["cat", "dog", "emu"], **extra)


def test_map_and_channel_files_read_back_as_their_arrays(tmp_path):
    data = small_data(tmp_path)
    maps = np.random.default_rng(4).random((12, 5, 2, 2)).astype(np.float32)
    data = small_data(tmp_path, phi_map=pca_map(data.phi), maps=maps, maps_sigma=0.25)
    write_explorer(tmp_path / "x", data)
    folder = tmp_path / "x" / "data"
    meta = json.loads(re.fullmatch(r"window\.DENOSCOPE_META = (.*);\n", (folder / "meta.js").read_text(), re.S)[1])
    assert meta["map"] == "pca" and meta["class_names"] == ["cat", "dog", "emu"]
    m = script_payload(folder / "map.js", "DENOSCOPE_MAP")
    np.testing.assert_array_equal(unb64(m["coords"], "f4").reshape(-1, 2), data.phi_map["coords"])
    assert m["explained"] == data.phi_map["explained_variance_ratio"]
    ch = script_payload(folder / "channels.js", "DENOSCOPE_CHANNELS")
    np.testing.assert_array_equal(unb64(ch["counts"], "i4").reshape(5, ch["bins"]), channel_histograms(data.phi)["counts"])
    ids, values = top_maps(data.phi, maps)
    assert ch["maps"]["shape"] == list(values.shape) and ch["maps"]["sigma"] == 0.25 and ch["maps"]["images"] == 12
    np.testing.assert_array_equal(unb64(ch["maps"]["ids"], "i4").reshape(ids.shape), ids)
    np.testing.assert_array_equal(unb64(ch["maps"]["values"], "f4").reshape(values.shape), values)
    np.testing.assert_array_equal(unb64(ch["maps"]["phi"], "f4").reshape(ids.shape), np.take_along_axis(data.phi.T, ids, 1))


def test_without_a_map_or_maps_the_explorer_says_so(tmp_path):
    write_explorer(tmp_path / "x", small_data(tmp_path))
    folder = tmp_path / "x" / "data"
    assert not (folder / "map.js").exists()
    assert "DENOSCOPE_META = " in (folder / "meta.js").read_text() and '"map": null' in (folder / "meta.js").read_text()
    assert script_payload(folder / "channels.js", "DENOSCOPE_CHANNELS")["maps"] is None


def test_a_report_figure_links_to_itself_full_size():
    text = image(Figure("figures/analysis-sparsity.png", "Sparsity <1>", "caption"))
    zoom, box = re.findall(r'href="#([^"]+)"', text)
    assert box == "_" and re.search(rf'<a class="lightbox" id="{zoom}"', text)
    assert text.count('src="figures/analysis-sparsity.png"') == 2 and "Sparsity &lt;1&gt;" in text
    assert image(Figure(None, "t", "c")) == ""
