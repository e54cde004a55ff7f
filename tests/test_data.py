"""Data layer: every source format round-trips exactly, failures name the file, transforms and seeds are exact."""

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from denoscope import rng
from denoscope.data import DataError, TrainingSet, Transform, open_source, split_indices, stack_images
from denoscope.data.transforms import center_crop, random_patch, resize, to_gray, to_rgb

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def random_images(n: int, channels: int, seed: int = 0, h: int = 8, w: int = 10) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, channels), dtype=np.uint8)


def save_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(path, format="PNG")


def write_folder(root: Path, images: np.ndarray, labels: np.ndarray | None, classes: list[str]) -> None:
    """Files named so that sorted order is image order; a non-image file and an upper-case extension on the side."""
    for i, image in enumerate(images):
        name = f"img{i:02d}.{'PNG' if i == 1 else 'png'}"
        save_png(root / (name if labels is None else f"{classes[labels[i]]}/{name}"), image)
    (root / "notes.txt").write_text("not an image")


def write_tar(path: Path, root: Path, prefix: str) -> None:
    with tarfile.open(path, "w") as tar:
        for file in sorted(root.rglob("*"), reverse=True):
            if file.is_file():
                tar.add(file, arcname=prefix + file.relative_to(root).as_posix())


@pytest.mark.parametrize("kind", ["folder", "tar", "tar-dot-prefix"])
@pytest.mark.parametrize("layout", ["flat", "classes"])
@pytest.mark.parametrize("channels", [1, 3])
def test_image_files_round_trip(tmp_path, kind, layout, channels):
    images = random_images(7, channels)
    classes = ["apple", "cherry", "banana"]
    labels = np.array([2, 0, 2, 1, 0, 0, 1]) if layout == "classes" else None
    root = tmp_path / "images"
    write_folder(root, images, labels, classes)
    source = root
    if kind != "folder":
        source = tmp_path / "images.tar"
        write_tar(source, root, "./" if kind == "tar-dot-prefix" else "")

    data = open_source(str(source))

    assert data.name == str(source) and len(data) == 7 and data.channels == channels
    assert data.notes == [f"{source}: skipped 1 file not read as images (1 .txt: not an image or hidden); read are files ending in "
                          ".png .jpg .jpeg .bmp .tif .tiff .webp"]  # write_folder's notes.txt
    if labels is None:
        assert data.labels is None and data.class_names is None
        expected = images
    else:
        assert data.class_names == ["apple", "banana", "cherry"]
        order = np.lexsort((np.arange(7), [classes[k] for k in labels]))
        expected = images[order]
        assert data.labels.dtype == np.int64
        assert [data.class_names[k] for k in data.labels] == [classes[labels[i]] for i in order]
    for i in range(7):
        assert data[i].dtype == np.uint8 and data[i].flags.c_contiguous
        np.testing.assert_array_equal(data[i], expected[i])
        assert data.size_of(i) == (8, 10)
    with pytest.raises(IndexError):
        data[7]


def test_tar_is_read_in_place_by_dataloader_workers(tmp_path):
    images = random_images(12, 3)
    write_folder(tmp_path / "flat", images, None, [])
    write_tar(tmp_path / "flat.tar", tmp_path / "flat", "")
    trainset = TrainingSet(open_source(str(tmp_path / "flat.tar")), Transform())
    batches = [[(i, 0) for i in range(6)], [(i, 0) for i in range(6, 12)]]
    loader = torch.utils.data.DataLoader(trainset, batch_sampler=batches, num_workers=2)
    batch = torch.cat(list(loader))
    np.testing.assert_array_equal((batch * 255).round().byte().permute(0, 2, 3, 1).numpy(), images)


def test_npy_round_trips(tmp_path):
    rgb, gray = random_images(5, 3), random_images(4, 1, seed=1)
    np.save(tmp_path / "rgb.npy", rgb)
    np.save(tmp_path / "gray.npy", gray[..., 0])
    data = open_source(str(tmp_path / "rgb.npy"))
    assert (len(data), data.channels, data.labels) == (5, 3, None)
    np.testing.assert_array_equal(np.stack([data[i] for i in range(5)]), rgb)
    data = open_source(str(tmp_path / "gray.npy"))
    assert (len(data), data.channels) == (4, 1)
    np.testing.assert_array_equal(np.stack([data[i] for i in range(4)]), gray)


@pytest.mark.parametrize("key", ["images", "x", "data"])
def test_npz_round_trips_with_labels(tmp_path, key):
    images, labels = random_images(6, 3), np.array([3, 1, 4, 1, 5, 0], dtype=np.int32)
    np.savez(tmp_path / "set.npz", **{key: images, "labels": labels})
    data = open_source(str(tmp_path / "set.npz"))
    assert data.channels == 3 and data.labels.dtype == np.int64
    np.testing.assert_array_equal(data.labels, labels)
    np.testing.assert_array_equal(np.stack([data[i] for i in range(6)]), images)


def test_npz_classes_name_the_labels(tmp_path):
    images, labels = random_images(4, 3), np.array([2, 0, 2, 1])
    np.savez(tmp_path / "set.npz", images=images, labels=labels, classes=np.array(["cat", "dog", "emu"]))
    data = open_source(str(tmp_path / "set.npz"))
    assert data.class_names == ["cat", "dog", "emu"]
    assert [data.class_names[k] for k in data.labels] == ["emu", "cat", "emu", "dog"]
    assert data.subset(3).class_names == ["cat", "dog", "emu"]
    rows = random_images(4, 3, h=8, w=8).transpose(0, 3, 1, 2).reshape(4, -1)
    np.savez(tmp_path / "rows.npz", data=rows, labels=labels + 1, classes=np.array([b"cat", b"dog", b"emu"]))
    assert open_source(str(tmp_path / "rows.npz")).class_names == ["cat", "dog", "emu"]
    np.savez(tmp_path / "plain.npz", images=images, labels=labels)
    assert open_source(str(tmp_path / "plain.npz")).class_names is None


@pytest.mark.parametrize("arrays, words", [
    ({"labels": np.array([0, 1, 2, 3])}, "labels go up to 3"),
    ({}, "has no 'labels' array"),
    ({"labels": np.array([0, 1, 0, 1]), "classes": np.array([1, 2])}, "expected a 1-D array of class names"),
])
def test_npz_classes_that_do_not_fit_are_refused(tmp_path, arrays, words):
    arrays = {"classes": np.array(["cat", "dog", "emu"])} | arrays
    np.savez(tmp_path / "set.npz", images=random_images(4, 3), **arrays)
    with pytest.raises(DataError, match=words):
        open_source(str(tmp_path / "set.npz"))


def test_a_joined_source_is_its_parts_one_after_another(tmp_path):
    from denoscope.data import reopen

    first, second = random_images(3, 3, seed=1), random_images(4, 3, seed=2)
    write_folder(tmp_path / "train", first, np.array([1, 0, 1]), ["cat", "dog"])
    np.savez(tmp_path / "test.npz", images=second, labels=np.array([0, 0, 1, 1]), classes=np.array(["cat", "dog"]))
    spec = f"{tmp_path / 'train'}+{tmp_path / 'test.npz'}"
    data = open_source(spec)
    assert (data.name, len(data), data.channels, data.class_names) == (spec, 7, 3, ["cat", "dog"])
    folder = open_source(str(tmp_path / "train"))  # class by class: dog's img00, then cat's img01 and img02
    np.testing.assert_array_equal(np.stack([data[i] for i in range(7)]), np.concatenate([[folder[i] for i in range(3)], second]))
    np.testing.assert_array_equal(data.labels, [*folder.labels, 0, 0, 1, 1])
    assert data.where(2) == folder.where(2) and data.where(-1) == open_source(str(tmp_path / "test.npz")).where(3)
    part = data.subset(4, seed=1)
    again = reopen(part.name)
    assert again.name == part.name and all(np.array_equal(again[i], part[i]) for i in range(4))
    assert len(open_source(f"{spec}+synthetic:shapes?n=5&size=8")) == 12

    gray = open_source(f"{tmp_path / 'test.npz'}+{tmp_path / 'train'}", channels=1)
    assert gray.channels == 1 and gray[0].shape == (8, 10, 1) and "converted 4 colour images to grayscale" in " ".join(gray.notes)
    np.save(tmp_path / "gray.npy", random_images(2, 1, seed=3)[..., 0])
    mixed = open_source(f"{tmp_path / 'gray.npy'}+{tmp_path / 'test.npz'}")
    assert mixed.channels == 3 and mixed[0].shape == (8, 10, 3) and mixed.labels is None
    assert any("to RGB" in n for n in mixed.notes) and any("labels left out" in n for n in mixed.notes)
    with pytest.raises(DataError, match=r"missing\.tar: no such file"):
        open_source(f"{tmp_path / 'test.npz'}+{tmp_path / 'missing.tar'}")
    with pytest.raises(DataError, match="an empty part"):
        open_source(f"{tmp_path / 'test.npz'}+")
    (tmp_path / "a+b.npz").write_bytes((tmp_path / "test.npz").read_bytes())  # a file with + in its name is that file
    assert len(open_source(str(tmp_path / "a+b.npz"))) == 4


def test_downsampled_imagenet_rows_are_channel_first_with_one_based_labels(tmp_path):
    images = random_images(5, 3, h=16, w=16)
    rows = images.transpose(0, 3, 1, 2).reshape(5, 3 * 16 * 16)
    np.savez_compressed(tmp_path / "train_data_batch_1.npz", data=rows, labels=[1, 1000, 7, 2, 1], mean=rows.mean(0))
    data = open_source(str(tmp_path / "train_data_batch_1.npz"))
    np.testing.assert_array_equal(data.labels, [0, 999, 6, 1, 0])
    np.testing.assert_array_equal(np.stack([data[i] for i in range(5)]), images)


def test_mixed_gray_and_colour_become_rgb_with_a_note(tmp_path):
    rgb, gray = random_images(3, 3), random_images(2, 1, seed=1)
    for i, image in enumerate([rgb[0], gray[0], rgb[1], gray[1], rgb[2]]):
        save_png(tmp_path / f"{i}.png", image)
    data = open_source(str(tmp_path))
    assert data.channels == 3 and data.notes == ["converted 2 grayscale images to RGB"]
    np.testing.assert_array_equal(data[1], np.repeat(gray[0], 3, axis=2))
    np.testing.assert_array_equal(data[2], rgb[1])

    data = open_source(str(tmp_path), channels=1)
    assert data.channels == 1 and data.notes == ["converted 3 colour images to grayscale"]
    pil_gray = np.asarray(Image.open(tmp_path / "2.png").convert("L"))
    np.testing.assert_array_equal(data[2][..., 0], pil_gray)
    np.testing.assert_array_equal(data[3], gray[1])


def test_sixteen_bit_alpha_and_palette_images_convert(tmp_path):
    wide = np.array([[0, 257, 65535], [32896, 1000, 60000]], dtype=np.uint16)
    Image.fromarray(wide).save(tmp_path / "a16.png")
    rgba = random_images(1, 4)[0]
    Image.fromarray(rgba).save(tmp_path / "b_rgba.png")
    Image.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "c_palette.png")
    data = open_source(str(tmp_path))
    assert data.channels == 3 and data.notes == [
        "converted 1 16-bit image to 8 bits",
        "dropped the alpha channel of 1 image",
        "converted 1 palette image to RGB",
        "converted 1 grayscale image to RGB",
    ]
    np.testing.assert_array_equal(data[0][..., 0], np.round(wide / 257).astype(np.uint8))
    np.testing.assert_array_equal(data[1], rgba[..., :3])
    assert data[2].shape == (8, 10, 3)
    assert open_source(str(tmp_path), channels=1)[0].shape == (2, 3, 1)


@pytest.mark.parametrize("kind", ["folder", "tar"])
def test_lossy_conversions_are_noted_once_per_kind(tmp_path, kind):
    """Every conversion decoding makes from a header's mode is counted into one note, as gray → RGB is."""
    root = tmp_path / "mixed"
    root.mkdir()
    rgba, wide = random_images(1, 4)[0], np.arange(80, dtype=np.uint16).reshape(8, 10) * 800
    for name in ("a16.png", "b16.png"):
        Image.fromarray(wide).save(root / name)
    for name in ("c_rgba.png", "d_rgba.png"):
        Image.fromarray(rgba).save(root / name)
    Image.fromarray(rgba[..., :2], "LA").save(root / "e_la.png")
    Image.fromarray(rgba).convert("CMYK").save(root / "f_cmyk.tif")
    Image.fromarray(rgba[..., :3]).convert("P").save(root / "g_palette.png")
    save_png(root / "h_rgb.png", rgba[..., :3])
    source = root
    if kind == "tar":
        source = tmp_path / "mixed.tar"
        write_tar(source, root, "")

    data = open_source(str(source))

    assert data.notes == [
        "converted 2 16-bit images to 8 bits",
        "dropped the alpha channel of 3 images",
        "converted 1 CMYK image to RGB",
        "converted 1 palette image to RGB",
        "converted 3 grayscale images to RGB",
    ]
    np.testing.assert_array_equal(data[1][..., 0], np.round(wide / 257).astype(np.uint8))
    np.testing.assert_array_equal(data[3], rgba[..., :3])
    np.testing.assert_array_equal(data[4], np.repeat(rgba[..., :1], 3, axis=2))
    np.testing.assert_array_equal(data[5], np.asarray(Image.open(root / "f_cmyk.tif").convert("RGB")))
    np.testing.assert_array_equal(data[6], np.asarray(Image.open(root / "g_palette.png").convert("RGB")))
    assert open_source(str(source), channels=1).notes[-1] == "converted 5 colour images to grayscale"


@pytest.mark.parametrize(
    "loop",
    [{"cat/loop": ".."}, {"cat/root": "ROOT"}, {"dog/puppies/self": "."}, {"cat/dogs": "../dog", "dog/cats": "../cat"}],
    ids=["up", "root", "self", "siblings"],
)
def test_symlink_loops_and_aliases_list_each_file_once_under_its_class(tmp_path, loop):
    """A link loop, an alias of a folder or file, lists nothing twice; links to what lies elsewhere still count."""
    images = random_images(6, 3)
    root = tmp_path / "classes"
    for i, where in enumerate(["cat/0.png", "cat/1.png", "dog/2.png", "dog/puppies/3.png"]):
        save_png(root / where, images[i])
    save_png(tmp_path / "birds/4.png", images[4])
    save_png(tmp_path / "elsewhere/5.png", images[5])
    links = {"bird": tmp_path / "birds", "cat/birds": "../bird", "dog/5.png": tmp_path / "elsewhere/5.png"}
    for link, target in {**links, "dog/again.png": "../cat/0.png", **loop}.items():
        (root / link).symlink_to(root if target == "ROOT" else target)

    data = open_source(str(root))

    names = [Path(data.where(i)).relative_to(root).as_posix() for i in range(len(data))]
    assert names == ["bird/4.png", "cat/0.png", "cat/1.png", "dog/2.png", "dog/5.png", "dog/puppies/3.png"]
    assert data.class_names == ["bird", "cat", "dog"] and data.labels.tolist() == [0, 1, 1, 2, 2, 2]
    for i, k in enumerate([4, 0, 1, 2, 5, 3]):
        np.testing.assert_array_equal(data[i], images[k])


def test_npy_gray_to_rgb_and_rgb_to_gray_match_pil(tmp_path):
    rgb = random_images(3, 3)
    np.save(tmp_path / "rgb.npy", rgb)
    data = open_source(str(tmp_path / "rgb.npy"), channels=1)
    assert data.notes == ["converted 3 colour images to grayscale"]
    np.testing.assert_array_equal(data[0][..., 0], np.asarray(Image.fromarray(rgb[0]).convert("L")))
    np.testing.assert_array_equal(to_rgb(to_gray(rgb[1]))[..., 2], to_gray(rgb[1])[..., 0])


def test_corrupt_files_are_refused_by_name(tmp_path):
    good = random_images(2, 3, h=32, w=32)
    save_png(tmp_path / "bad/ok.png", good[0])
    (tmp_path / "bad/noise.png").write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(DataError, match="noise.png"):
        open_source(str(tmp_path / "bad"))

    buffer = io.BytesIO()
    Image.fromarray(good[1]).save(buffer, format="PNG")
    save_png(tmp_path / "cut/ok.png", good[0])
    (tmp_path / "cut/truncated.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    data = open_source(str(tmp_path / "cut"))
    np.testing.assert_array_equal(data[0], good[0])
    with pytest.raises(DataError, match="truncated.png"):
        data[1]

    write_tar(tmp_path / "cut.tar", tmp_path / "cut", "")
    data = open_source(str(tmp_path / "cut.tar"))
    with pytest.raises(DataError, match=r"cut\.tar:truncated\.png"):
        data[1]


def test_bad_sources_are_refused_with_what_was_expected(tmp_path):
    with pytest.raises(DataError, match="nowhere/images.*no such file"):
        open_source(str(tmp_path / "nowhere/images"))
    (tmp_path / "list.txt").write_text("a.png\n")
    with pytest.raises(DataError, match="list.txt.*expected a folder"):
        open_source(str(tmp_path / "list.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty.*no images"):
        open_source(str(tmp_path / "empty"))
    (tmp_path / "fake.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(DataError, match="fake.tar"):
        open_source(str(tmp_path / "fake.tar"))

    np.save(tmp_path / "float.npy", np.zeros((2, 4, 4, 3), dtype=np.float32))
    with pytest.raises(DataError, match=r"float\.npy.*float32.*expected uint8"):
        open_source(str(tmp_path / "float.npy"))
    np.save(tmp_path / "flat.npy", np.zeros((2, 48), dtype=np.uint8))
    with pytest.raises(DataError, match=r"flat\.npy.*N×H×W"):
        open_source(str(tmp_path / "flat.npy"))
    np.save(tmp_path / "objects.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="objects.npy"):
        open_source(str(tmp_path / "objects.npy"))
    np.savez(tmp_path / "nothing.npz", y=np.zeros(3))
    with pytest.raises(DataError, match="nothing.npz.*images, x, data"):
        open_source(str(tmp_path / "nothing.npz"))
    np.savez(tmp_path / "short.npz", images=random_images(3, 3), labels=[0, 1])
    with pytest.raises(DataError, match="short.npz.*labels"):
        open_source(str(tmp_path / "short.npz"))

    save_png(tmp_path / "mixed/top.png", random_images(1, 3)[0])
    save_png(tmp_path / "mixed/cat/a.png", random_images(1, 3)[0])
    with pytest.raises(DataError, match="mixed.*top level"):
        open_source(str(tmp_path / "mixed"))
    with pytest.raises(ValueError, match="channels"):
        open_source("synthetic:shapes", channels=2)


def test_synthetic_shapes_are_deterministic_per_seed_and_index():
    a, b = open_source("synthetic:shapes?n=50&size=32&seed=3"), open_source("synthetic:shapes?n=5000&size=32&seed=3")
    other = open_source("synthetic:shapes?n=50&size=32&seed=4")
    assert a[7].shape == (32, 32, 3) and a[7].dtype == np.uint8
    for i in (0, 7, 49):
        np.testing.assert_array_equal(a[i], b[i])
        assert not np.array_equal(a[i], other[i])
    for name in a.factors:
        np.testing.assert_array_equal(a.factors[name], b.factors[name][:50])

    defaults = open_source("synthetic:shapes")
    assert (len(defaults), defaults.channels, defaults[0].shape) == (4096, 3, (32, 32, 3))
    assert open_source("synthetic:shapes?size=48", channels=1)[0].shape == (48, 48, 1)


def test_synthetic_factors_are_cheap_balanced_and_labelled(monkeypatch):
    from denoscope.data.synthetic import Shapes

    def never(*_):
        raise AssertionError("opening a synthetic source must not render images")

    monkeypatch.setattr(Shapes, "render", never)
    data = open_source("synthetic:shapes?n=100000")
    assert set(data.factors) == {"shape", "texture", "colour", "position"}
    assert data.class_names == ["circle", "square", "triangle", "cross"]
    np.testing.assert_array_equal(data.labels, data.factors["shape"])
    for name, count in {"shape": 4, "texture": 4, "colour": 6, "position": 9}.items():
        values = data.factors[name]
        assert values.shape == (100000,) and values.dtype == np.int64
        assert np.bincount(values, minlength=count).min() > 0.9 * 100000 / count and values.max() == count - 1


def test_synthetic_pixels_follow_their_factors():
    """Where the saturated (object) pixels sit and their hue give back the position and colour factors."""
    from denoscope.data.synthetic import COLOURS

    data = open_source("synthetic:shapes?n=120&size=32&seed=1")
    palette = np.array(list(COLOURS.values()))
    palette /= np.linalg.norm(palette, axis=1, keepdims=True)
    centres = np.array([0.29, 0.5, 0.71]) * 32
    for i in range(len(data)):
        image = data[i].astype(float)
        rows, cols = np.nonzero(image.max(axis=2) - image.min(axis=2) > 45)
        row, col = divmod(data.factors["position"][i], 3)
        assert np.argmin(abs(centres - rows.mean())) == row and np.argmin(abs(centres - cols.mean())) == col
        hue = image[rows, cols].mean(axis=0)
        assert np.argmax(palette @ hue) == data.factors["colour"][i]

    f = data.factors
    same_place = [i for i in range(len(data)) if f["position"][i] == f["position"][0] and f["shape"][i] != f["shape"][0]]
    gray = [to_gray(data[i]).astype(float) for i in (0, same_place[0])]
    assert abs(gray[0] - gray[1]).mean() > 4


def test_synthetic_refuses_unknown_names_and_parameters():
    with pytest.raises(DataError, match="expected one of shapes"):
        open_source("synthetic:blobs")
    with pytest.raises(DataError, match="'colours'.*expected n, size, seed"):
        open_source("synthetic:shapes?colours=3")
    with pytest.raises(DataError, match="integer"):
        open_source("synthetic:shapes?n=many")
    with pytest.raises(DataError, match="size ≥ 8"):
        open_source("synthetic:shapes?size=4")


def test_crops_and_patches_pick_the_right_pixels():
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    np.testing.assert_array_equal(center_crop(image, 2, 4), image[2:4, 2:6])
    np.testing.assert_array_equal(random_patch(image, 4, None), image[1:5, 2:6])
    corners = set()
    for seed in range(40):
        patch = random_patch(image, 4, np.random.default_rng(seed))
        top, left = divmod(int(patch[0, 0, 0]) // 3, 8)
        assert 0 <= top <= 2 and 0 <= left <= 4
        np.testing.assert_array_equal(patch, image[top : top + 4, left : left + 4])
        np.testing.assert_array_equal(patch, random_patch(image, 4, np.random.default_rng(seed)))
        corners.add((top, left))
    assert len(corners) > 8


def test_flip_and_resize():
    image = random_images(1, 3, h=12, w=20)[0]
    flip = Transform(flip=True)
    outs = [flip(image, np.random.default_rng(seed)) for seed in range(20)]
    assert any(np.array_equal(o, image[:, ::-1]) for o in outs) and any(np.array_equal(o, image) for o in outs)
    assert all(np.array_equal(o, image) or np.array_equal(o, image[:, ::-1]) for o in outs)
    np.testing.assert_array_equal(flip(image), image)

    assert resize(image, 6, 10).shape == (6, 10, 3) and resize(image[..., :1], 30, 40).shape == (30, 40, 1)
    flat = np.full((12, 20, 3), 77, dtype=np.uint8)
    np.testing.assert_array_equal(Transform(size=7)(flat), np.full((7, 7, 3), 77))
    squared = Transform(size=12)(image)
    np.testing.assert_array_equal(squared, image[:, 4:16])


def test_transform_refuses_images_smaller_than_the_crop():
    image = random_images(1, 3, h=20, w=40)[0]
    for mode in ("center-crop", "random-patch"):
        with pytest.raises(DataError, match=f"20×40.*32×32.*{mode}"):
            Transform(size=32, mode=mode)(image, np.random.default_rng(0))
    assert Transform(size=32)(image).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="resize, center-crop, random-patch"):
        Transform(size=32, mode="stretch")


def test_training_set_is_reproducible_from_item_seeds():
    images = open_source("synthetic:shapes?n=20&size=16&seed=2")
    indices = np.array([3, 5, 11])
    trainset = TrainingSet(images, Transform(size=12, mode="random-patch", flip=True), indices)
    assert len(trainset) == 3
    x = trainset[1, 123]
    assert x.dtype == torch.float32 and x.shape == (3, 12, 12) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, trainset[1, 123])
    assert any(not torch.equal(x, trainset[1, seed]) for seed in range(5))

    whole = TrainingSet(images, Transform())[5, 0]
    assert torch.equal(whole, torch.from_numpy(images[5]).permute(2, 0, 1).float() / 255)


def test_stack_images_and_split_indices():
    images = open_source("synthetic:shapes?n=30&size=16", channels=1)
    train, held = split_indices(30, 10, seed=0)
    assert len(train) == 20 and len(held) == 10 and not set(train) & set(held)
    assert list(np.sort(np.concatenate([train, held]))) == list(range(30))
    assert list(train) == sorted(train) and list(held) == sorted(held)
    np.testing.assert_array_equal(split_indices(30, 10, seed=0)[1], held)
    assert not np.array_equal(split_indices(30, 10, seed=1)[1], held)
    with pytest.raises(DataError, match="at most half"):
        split_indices(30, 16, seed=0)

    stacked = stack_images(images, held, Transform(size=8))
    assert stacked.shape == (10, 1, 8, 8) and stacked.dtype == torch.float32
    assert torch.equal(stacked[2], torch.from_numpy(Transform(size=8)(images[int(held[2])])).permute(2, 0, 1) / 255)
    assert stack_images(images, [], Transform(size=8)).shape == (0, 1, 8, 8)


def test_unequal_sizes_need_an_image_size(tmp_path):
    save_png(tmp_path / "a.png", random_images(1, 3, h=8, w=8)[0])
    save_png(tmp_path / "b.png", random_images(1, 3, h=10, w=12)[0])
    images = open_source(str(tmp_path))
    with pytest.raises(DataError, match=r"b\.png is 10×12.*pass an image size"):
        stack_images(images, [0, 1], Transform())
    with pytest.raises(DataError, match=r"a\.png is 8×8.*random-patch"):
        TrainingSet(images, Transform(size=9, mode="random-patch"))
    assert stack_images(images, [0, 1], Transform(size=6)).shape == (2, 3, 6, 6)


needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED}")


@needs_shared
def test_cifar10_test_tar():
    path = SHARED / "cifar10" / "test.tar"
    data = open_source(str(path))
    assert len(data) == 10_000 and data.channels == 3 and data.notes == []
    assert data.class_names == CIFAR_CLASSES
    np.testing.assert_array_equal(np.bincount(data.labels), [1000] * 10)
    with tarfile.open(path) as tar:
        for i in (0, 4321, 9999):
            member = f"{data.class_names[data.labels[i]]}/{i % 1000 + 1:05d}.png"
            expected = np.asarray(Image.open(tar.extractfile(member)).convert("RGB"))
            assert data[i].shape == (32, 32, 3)
            np.testing.assert_array_equal(data[i], expected)


@needs_shared
def test_cifar10_train_and_test_joined_are_all_36000_images():
    train, test = SHARED / "cifar10" / "train.tar", SHARED / "cifar10" / "test.tar"
    data = open_source(f"{train}+{test}")
    assert len(data) == 36_000 and data.class_names == CIFAR_CLASSES and data.notes == []
    np.testing.assert_array_equal(np.bincount(data.labels), [3600] * 10)
    np.testing.assert_array_equal(data[26_000], open_source(str(test))[0])


@needs_shared
def test_tinyimagenet_val_converts_grayscale_jpegs():
    data = open_source(str(SHARED / "tinyimagenet64" / "val.tar"))
    assert len(data) == 2000 and data.channels == 3 and len(data.class_names) == 200
    assert data.notes == ["converted 37 grayscale images to RGB"]
    assert all(data[i].shape == (64, 64, 3) for i in range(0, 2000, 250))


@needs_shared
def test_set12_is_grayscale():
    data = open_source(str(SHARED / "denoise" / "set12"))
    assert len(data) == 12 and data.channels == 1 and data.labels is None
    assert data[0].shape == (256, 256, 1) and data.size_of(11) == (512, 512)


@needs_shared
def test_textures_give_random_patches():
    data = open_source(str(SHARED / "textures"))
    assert data.channels == 3 and len(data.class_names) == 10 and np.bincount(data.labels).tolist() == [3] * 10
    trainset = TrainingSet(data, Transform(size=64, mode="random-patch", flip=True))
    patches = [trainset[i, 7] for i in (0, 15, 29)]
    assert all(p.shape == (3, 64, 64) for p in patches)
    assert torch.equal(patches[1], trainset[15, 7])


def test_reopen_finds_the_images_a_subset_name_stands_for():
    from denoscope.data import reopen

    whole = open_source("synthetic:shapes?n=40&size=16&seed=2")
    part = whole.subset(7, seed=3)
    chosen = rng.choose(40, 7, 3, "subset")  # the one way a subset is chosen: represent, analyse and reopen agree
    assert all(np.array_equal(part[i], whole[int(j)]) for i, j in enumerate(chosen))
    np.testing.assert_array_equal(part.factors["shape"], whole.factors["shape"][chosen])
    again = reopen(part.name)
    assert again.name == part.name and len(again) == 7
    assert all(np.array_equal(again[i], part[i]) for i in range(7))
    assert reopen(whole.name).name == whole.name
