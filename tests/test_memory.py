"""In-memory data path: decoding matches the loader's images pixel for pixel, the cache is reused only when it fits,
and device batches depend on each image's key alone."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from denoscope import rng
from denoscope.data import DataError, ImageSet, Transform, open_source
from denoscope.data.dataset import to_tensor
from denoscope.data.memory import DeviceBatches, decode_all

SHAPES = "synthetic:shapes?n=12&size=16"


def png_folder(root, sizes):
    root.mkdir()
    generator = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(generator.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"img{i:02d}.png")
    return str(root)


def stacked(images, indices, transform):
    return np.stack([transform(images[int(i)]) for i in indices])


@pytest.mark.parametrize(
    "transform", [Transform(), Transform(12, "resize"), Transform(10, "center-crop"), Transform(8, "random-patch")]
)
def test_decode_all_equals_the_transformed_images(transform):
    images = open_source(SHAPES)
    indices = np.array([3, 0, 7, 11])
    geometry = Transform() if transform.mode == "random-patch" else transform
    out = decode_all(images, indices, transform)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, stacked(images, indices, geometry))


def test_decode_all_reads_png_folders(tmp_path):
    images = open_source(png_folder(tmp_path / "pngs", [(9, 11), (12, 10), (10, 10)]))
    transform = Transform(8, "resize")
    np.testing.assert_array_equal(decode_all(images, [2, 0, 1], transform), stacked(images, [2, 0, 1], transform))
    with pytest.raises(DataError, match="random-patch .* needs the loader path"):
        decode_all(images, [0, 1, 2], Transform(8, "random-patch"))


def test_cache_is_written_once_then_memory_mapped(tmp_path, monkeypatch):
    images, cache = open_source(SHAPES), tmp_path / "cache" / "train.npy"
    first = decode_all(images, np.arange(12), Transform(12), cache=cache)
    assert cache.exists() and json.loads(cache.with_suffix(".json").read_text())["shape"] == [12, 12, 12, 3]

    def no_decoding(self, i):
        raise AssertionError("decoded again")

    monkeypatch.setattr(ImageSet, "__getitem__", no_decoding)
    second = decode_all(images, np.arange(12), Transform(12), cache=cache)
    assert isinstance(second, np.memmap) and Path(second.filename) == cache.resolve()
    np.testing.assert_array_equal(second, first)
    assert sorted(p.name for p in cache.parent.iterdir()) == ["train.json", "train.npy"]


@pytest.mark.parametrize("change", ["indices", "transform", "corrupt", "sidecar"])
def test_mismatched_cache_is_rebuilt(tmp_path, change):
    images, cache = open_source(SHAPES), tmp_path / "train.npy"
    decode_all(images, np.arange(6), Transform(12), cache=cache)
    indices, transform = np.arange(6), Transform(12)
    if change == "indices":
        indices = np.arange(6, 12)
    elif change == "transform":
        transform = Transform(10, "center-crop")
    elif change == "corrupt":
        cache.write_bytes(b"not an npy file")
    else:
        np.save(cache, np.zeros((6, 12, 12, 1), dtype=np.uint8))
    out = decode_all(images, indices, transform, cache=cache)
    np.testing.assert_array_equal(out, stacked(images, indices, transform))
    np.testing.assert_array_equal(np.load(cache), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.json", "train.npy"]


@pytest.mark.parametrize("max_bytes", [0, None, 1 << 20], ids=["host", "default", "resident"])
def test_batches_depend_on_each_image_alone(tmp_path, max_bytes):
    images = open_source(SHAPES)
    array = decode_all(images, np.arange(12), Transform(), cache=tmp_path / "train.npy")
    batches = DeviceBatches(array, "cpu", max_bytes=max_bytes)
    assert (batches.resident is not None) == (max_bytes == 1 << 20)
    keys = rng.key(7, torch.arange(12))
    flips = rng.uniform(keys, stream="uniform") < 0.5
    assert 0 < int(flips.sum()) < 12
    expected = torch.stack([to_tensor(images[i][:, ::-1] if flips[i] else images[i]) for i in range(12)])

    positions = torch.tensor([5, 2, 9, 2, 0])
    together = batches.batch(positions, keys[positions], flip=True)
    assert together.dtype == torch.float32 and together.shape == (5, 3, 16, 16) and together.is_contiguous()
    torch.testing.assert_close(together, expected[positions], rtol=0, atol=0)
    for p in positions:
        alone = batches.batch(p[None], keys[p][None], flip=True)
        torch.testing.assert_close(alone[0], together[positions.tolist().index(int(p))], rtol=0, atol=0)
    unflipped = batches.batch(positions, keys[positions], flip=False)
    torch.testing.assert_close(unflipped, torch.stack([to_tensor(images[int(p)]) for p in positions]), rtol=0, atol=0)
