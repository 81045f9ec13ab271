"""keras.utils.image_dataset_from_directory / text_dataset_from_directory on directories the
tests write, against NumPy oracles: the listing and labels from os.walk, Keras 2's seeded
split recomputed with RandomState, pixels from Pillow resized by xf.image.resize or by
TF's kernels written out by hand."""

import functools
import math
import os

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras

Image = pytest.importorskip("PIL.Image")

image_dataset = keras.utils.image_dataset_from_directory
text_dataset = keras.utils.text_dataset_from_directory


def _pixels(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def image_dir(tmp_path):
    """Three classes (created out of order), PNGs of several sizes, one JPEG in a nested
    folder, and files that are no image (skipped)."""
    root = tmp_path / "photos"
    for c, name in enumerate(["tulips", "daisy", "roses"]):
        (root / name / "more").mkdir(parents=True)
        for k in range(4):
            # few distinct shapes: the oracle, xf.image.resize, compiles once per shape
            Image.fromarray(_pixels((10 + k % 2, 14 + c % 2, 3), 10 * c + k)).save(
                root / name / f"img{k}.png")
        Image.fromarray(_pixels((9, 9, 3), 99 + c)).save(root / name / "more" / "x.JPG")
        (root / name / "notes.txt").write_text("not an image")
    (root / "LICENSE.txt").write_text("synthetic")
    return root


def _listing(root, formats):
    """The oracle: each sorted subdirectory's files (walked in sorted order) and its index."""
    paths, labels = [], []
    classes = sorted(name for name in os.listdir(root) if os.path.isdir(root / name))
    for index, name in enumerate(classes):
        for dirpath, _, names in sorted(os.walk(root / name)):
            for f in sorted(names):
                if f.lower().endswith(formats):
                    paths.append(os.path.join(dirpath, f))
                    labels.append(index)
    return paths, labels


def _all(dataset):
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in dataset))
    return np.concatenate(images), np.concatenate(labels)


def test_inferred_labels_and_class_names_follow_the_sorted_subdirectories(image_dir, capsys):
    ds = image_dataset(image_dir, image_size=(6, 5), batch_size=4, shuffle=False)
    assert capsys.readouterr().out == "Found 15 files belonging to 3 classes.\n"
    assert ds.class_names == ["daisy", "roses", "tulips"]
    paths, labels = _listing(image_dir, (".png", ".jpg"))
    assert ds.file_paths == paths
    images, got = _all(ds)
    assert images.shape == (15, 6, 5, 3) and images.dtype == np.float32
    np.testing.assert_array_equal(got, labels)
    assert got.dtype == np.int32
    assert [len(y) for _, y in ds] == [4, 4, 4, 3]


def test_class_names_give_the_label_order(image_dir):
    ds = image_dataset(image_dir, class_names=["tulips", "daisy", "roses"], image_size=(4, 4),
                       shuffle=False)
    expected = {"tulips": 0, "daisy": 1, "roses": 2}
    _, labels = _all(ds)
    assert labels.tolist() == [expected[os.path.relpath(p, image_dir).split(os.sep)[0]]
                               for p in ds.file_paths]
    # Keras 2 lists the sorted subdirectories whatever class_names says: only the ids change
    assert labels.tolist() == [1] * 5 + [2] * 5 + [0] * 5
    assert ds.file_paths == _listing(image_dir, (".png", ".jpg"))[0]
    with pytest.raises(ValueError, match="class_names"):
        image_dataset(image_dir, class_names=["daisy", "roses"])


def test_class_names_leave_the_seeded_split_as_without_them(image_dir):
    # Keras 2 shuffles the sorted listing, so the validation files do not depend on the
    # order class_names gives (a model trained with and without it validates alike)
    kwargs = dict(validation_split=0.4, subset="both", seed=11, image_size=(2, 2))
    plain = image_dataset(image_dir, **kwargs)
    named = image_dataset(image_dir, class_names=["tulips", "daisy", "roses"], **kwargs)
    order = ["tulips", "daisy", "roses"]
    for a, b in zip(plain, named):
        assert a.file_paths == b.file_paths
        wanted = [order.index(os.path.relpath(p, image_dir).split(os.sep)[0])
                  for p in b.file_paths]
        assert sorted(_all(b)[1].tolist()) == sorted(wanted)
    # the validation set is not reshuffled: its labels follow file_paths one by one
    assert _all(named[1])[1].tolist() == wanted


def test_split_is_keras_2s_seeded_shuffle_then_the_last_fraction(image_dir, capsys):
    train = image_dataset(image_dir, validation_split=0.2, subset="training", seed=123,
                          image_size=(4, 4), batch_size=32)
    val = image_dataset(image_dir, validation_split=0.2, subset="validation", seed=123,
                        image_size=(4, 4), batch_size=32)
    out = capsys.readouterr().out.splitlines()
    assert out == ["Found 15 files belonging to 3 classes.", "Using 12 files for training.",
                   "Found 15 files belonging to 3 classes.", "Using 3 files for validation."]
    # Keras 2's rule, restated: RandomState(seed).shuffle of the path list, last int(0.2 n)
    paths = _listing(image_dir, (".png", ".jpg"))[0]
    rng = np.random.RandomState(123)
    rng.shuffle(paths)
    assert train.file_paths == paths[:12] and val.file_paths == paths[12:]
    assert set(train.file_paths).isdisjoint(val.file_paths)
    label_of = dict(zip(*_listing(image_dir, (".png", ".jpg"))))
    for ds in (train, val):  # each label travels with its image through the shuffles
        images, got = _all(ds)
        for image, label in zip(images, got):
            match = [p for p in ds.file_paths if np.allclose(image, _decoded(p, (4, 4)))]
            assert [label_of[p] for p in match] == [label] * len(match) and match


@functools.cache
def _decoded(path, size, method="bilinear", mode="RGB"):
    with Image.open(path) as image:
        pixels = np.asarray(image.convert(mode))
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return np.asarray(xf.image.resize(pixels, size, method=method), dtype=np.float32)


def test_subset_both_equals_the_two_calls(image_dir):
    train, val = image_dataset(image_dir, validation_split=0.3, subset="both", seed=7,
                               image_size=(4, 4))
    alone = image_dataset(image_dir, validation_split=0.3, subset="validation", seed=7,
                          image_size=(4, 4))
    assert val.file_paths == alone.file_paths and len(val.file_paths) == 4
    assert len(train.file_paths) == 11 and train.class_names == val.class_names
    assert not set(train.file_paths) & set(val.file_paths)
    # the validation set of "both" is not reshuffled: its batches follow file_paths
    np.testing.assert_allclose(_all(val)[0], np.stack([_decoded(p, (4, 4))
                                                       for p in val.file_paths]), atol=1e-3)


def test_shuffling_repeats_with_the_seed(image_dir):
    def labels(seed):
        ds = image_dataset(image_dir, seed=seed, image_size=(3, 3), batch_size=4)
        return ds.file_paths, _all(ds)[1].tolist()
    first = labels(5)
    assert first == labels(5)
    assert first[0] != labels(6)[0]
    assert sorted(first[0]) == sorted(_listing(image_dir, (".png", ".jpg"))[0])
    # unshuffled, the seed seeds nothing: Keras 2 takes any integer there
    unshuffled = image_dataset(image_dir, seed=-1, shuffle=False, image_size=(3, 3))
    assert unshuffled.file_paths == _listing(image_dir, (".png", ".jpg"))[0]


@pytest.mark.parametrize("method", ["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"])
def test_images_are_resized_as_xf_image_resize(image_dir, method):
    ds = image_dataset(image_dir, image_size=(7, 9), batch_size=None, shuffle=False,
                       interpolation=method.upper() if method == "bicubic" else method)
    for (image, _), path in zip(ds, ds.file_paths):
        assert image.dtype == np.float32  # Keras 2 gave uint8 for nearest; its docs float32
        np.testing.assert_allclose(image.numpy(), _decoded(path, (7, 9), method),
                                   rtol=1e-5, atol=2e-3)


def _write(path, pixels):
    Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels).save(path)


def test_area_averages_the_covered_input(tmp_path):
    pixels = _pixels((4, 6, 1), 0)
    (tmp_path / "c").mkdir()
    _write(tmp_path / "c" / "a.png", pixels)
    [(image, _)] = image_dataset(tmp_path, image_size=(2, 3), color_mode="grayscale",
                                 interpolation="area", batch_size=None)
    blocks = pixels.astype(np.float64).reshape(2, 2, 3, 2, 1).mean(axis=(1, 3))
    np.testing.assert_allclose(image.numpy(), blocks, rtol=1e-6)
    # 3 -> 2: output pixel 0 covers input [0, 1.5): all of pixel 0, half of pixel 1
    row = np.array([[[10], [40], [100]]], dtype=np.uint8)
    _write(tmp_path / "c" / "a.png", row)
    [(image, _)] = image_dataset(tmp_path, image_size=(1, 2), color_mode="grayscale",
                                 interpolation="area", batch_size=None)
    np.testing.assert_allclose(image.numpy().ravel(), [(10 + 0.5 * 40) / 1.5,
                                                       (0.5 * 40 + 100) / 1.5], rtol=1e-6)


def _mitchell_netravali(x, b=1 / 3, c=1 / 3):  # the published form, B and C as parameters
    x = abs(x)
    if x < 1:
        return ((12 - 9 * b - 6 * c) * x ** 3 + (-18 + 12 * b + 6 * c) * x ** 2 + 6 - 2 * b) / 6
    if x < 2:
        return ((-b - 6 * c) * x ** 3 + (6 * b + 30 * c) * x ** 2 + (-12 * b - 48 * c) * x
                + 8 * b + 24 * c) / 6
    return 0.0


@pytest.mark.parametrize("method,kernel", [
    ("gaussian", lambda x: math.exp(-x * x / (2 * 0.5 ** 2)) if abs(x) < 1.5 else 0.0),
    ("mitchellcubic", _mitchell_netravali)])
def test_scale_and_translate_kernels(tmp_path, method, kernel):
    # 3 -> 2 columns: output o samples at (o + 0.5) * 1.5; pixel i's centre is i + 0.5
    row = np.array([[[10], [40], [100]]], dtype=np.uint8)
    (tmp_path / "c").mkdir()
    _write(tmp_path / "c" / "a.png", row)
    [(image, _)] = image_dataset(tmp_path, image_size=(1, 2), color_mode="grayscale",
                                 interpolation=method, batch_size=None)
    expected = []
    for o in range(2):
        w = np.array([kernel((i + 0.5) - (o + 0.5) * 1.5) for i in range(3)])
        expected.append(w @ [10, 40, 100] / w.sum())
    np.testing.assert_allclose(image.numpy().ravel(), expected, rtol=1e-5)


def test_crop_to_aspect_ratio_resizes_the_centred_window(tmp_path):
    pixels = _pixels((10, 20, 3), 1)
    (tmp_path / "c").mkdir()
    _write(tmp_path / "c" / "wide.png", pixels)
    [(image, _)] = image_dataset(tmp_path, image_size=(4, 4), crop_to_aspect_ratio=True,
                                 batch_size=None)
    window = pixels[:, 5:15]  # width 10 * 4 / 4 = 10, centred in 20
    np.testing.assert_allclose(image.numpy(), np.asarray(xf.image.resize(window, (4, 4))),
                               rtol=1e-5, atol=2e-3)


def test_color_modes_and_formats(tmp_path):
    pixels = _pixels((5, 6, 3), 2)
    (tmp_path / "c").mkdir()
    Image.fromarray(pixels).save(tmp_path / "c" / "a.bmp")
    frames = [Image.fromarray(pixels), Image.fromarray(255 - pixels)]
    frames[0].save(tmp_path / "c" / "b.gif", save_all=True, append_images=frames[1:])
    grey = image_dataset(tmp_path, image_size=(5, 6), color_mode="grayscale", shuffle=False,
                         batch_size=None)
    rgba = image_dataset(tmp_path, image_size=(5, 6), color_mode="rgba", shuffle=False,
                         batch_size=None)
    (bmp, _), (gif, _) = list(grey)
    luma = np.asarray(Image.fromarray(pixels).convert("L"), dtype=np.float32)
    np.testing.assert_allclose(bmp.numpy()[..., 0], luma, atol=1e-3)  # same size: unchanged
    with Image.open(tmp_path / "c" / "b.gif") as gif_file:  # the first frame, as TF's
        first = np.asarray(gif_file.convert("L"), dtype=np.float32)
    np.testing.assert_allclose(gif.numpy()[..., 0], first, atol=1e-3)
    (bmp, _), _ = list(rgba)
    np.testing.assert_allclose(bmp.numpy()[..., :3], pixels, atol=1e-3)
    np.testing.assert_array_equal(bmp.numpy()[..., 3], 255)


def test_label_modes(image_dir):
    _, labels = _listing(image_dir, (".png", ".jpg"))
    categorical = image_dataset(image_dir, label_mode="categorical", shuffle=False,
                                image_size=(2, 2))
    _, onehot = _all(categorical)
    np.testing.assert_array_equal(onehot, np.eye(3, dtype=np.float32)[labels])
    assert onehot.dtype == np.float32
    with pytest.raises(ValueError, match="binary.*2 classes"):
        image_dataset(image_dir, label_mode="binary")
    only = image_dataset(image_dir, label_mode=None, shuffle=False, image_size=(2, 2))
    assert only.class_names is None
    batches = list(only)
    assert all(isinstance(b, np.ndarray) for b in batches)
    # label_mode=None (or labels=None) lists from the top down: LICENSE.txt is no image
    assert sum(len(b) for b in batches) == 15


def test_binary_and_explicit_labels_in_sorted_path_order(tmp_path, capsys):
    root = tmp_path / "d"
    for name in ["b", "a"]:
        (root / name).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(_pixels((4, 4, 3), k)).save(root / name / f"{k}.png")
    Image.fromarray(_pixels((4, 4, 3), 9)).save(root / "top.png")
    binary = image_dataset(root, label_mode="binary", shuffle=False, image_size=(2, 2))
    _, y = _all(binary)
    assert y.shape == (6, 1) and y.dtype == np.float32
    np.testing.assert_array_equal(y.ravel(), [0, 0, 0, 1, 1, 1])
    capsys.readouterr()
    given = [9, 5, 3, 5, 3, 5, 3]  # top, a/0 a/1 a/2, b/0 b/1 b/2: os.walk's roots sorted
    ds = image_dataset(root, labels=given, shuffle=False, image_size=(2, 2))
    assert capsys.readouterr().out == "Found 7 files belonging to 3 classes.\n"
    assert ds.class_names == [3, 5, 9]
    assert [os.path.relpath(p, root) for p in ds.file_paths] == [
        "top.png", os.path.join("a", "0.png"), os.path.join("a", "1.png"), os.path.join("a", "2.png"),
        os.path.join("b", "0.png"), os.path.join("b", "1.png"), os.path.join("b", "2.png")]
    assert _all(ds)[1].tolist() == given
    with pytest.raises(ValueError, match="one label per file; found 7 files"):
        image_dataset(root, labels=[0, 1])
    none = image_dataset(root, labels=None, shuffle=False, image_size=(2, 2))
    assert capsys.readouterr().out == "Found 7 files.\n"
    assert none.class_names is None


def test_follow_links(image_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.fromarray(_pixels((4, 4, 3), 0)).save(outside / "linked.png")
    try:
        os.symlink(outside, image_dir / "daisy" / "link")
    except OSError:
        pytest.skip("this file system has no symbolic links")
    plain = image_dataset(image_dir, image_size=(2, 2), shuffle=False)
    followed = image_dataset(image_dir, image_size=(2, 2), shuffle=False, follow_links=True)
    assert len(followed.file_paths) == len(plain.file_paths) + 1
    assert os.path.join(image_dir, "daisy", "link", "linked.png") in followed.file_paths


@pytest.fixture
def text_dir(tmp_path):
    root = tmp_path / "aclImdb" / "train"
    texts = {"pos": ["a fine film", "loved it", "héllo wörld"],
             "neg": ["dull", "too long by half"]}
    for name, items in texts.items():
        (root / name).mkdir(parents=True)
        for k, text in enumerate(items):
            (root / name / f"{k}_7.txt").write_text(text, encoding="utf-8")
    (root / "pos" / "urls.csv").write_text("skipped")
    return root, texts


def test_text_files_with_inferred_labels(text_dir, capsys):
    root, texts = text_dir
    ds = text_dataset(root, batch_size=2, shuffle=False)
    assert capsys.readouterr().out == "Found 5 files belonging to 2 classes.\n"
    assert ds.class_names == ["neg", "pos"]
    got = [(t.decode(), int(y)) for xs, ys in ds.as_numpy_iterator() for t, y in zip(xs, ys)]
    assert got == [(t, 0) for t in texts["neg"]] + [(t, 1) for t in texts["pos"]]
    first_batch, _ = next(iter(ds.take(1)))
    assert first_batch.numpy().tolist() == [b"dull", b"too long by half"]  # TF's bytes


def test_text_max_length_cuts_bytes(text_dir):
    root, _ = text_dir
    ds = text_dataset(root, batch_size=None, shuffle=False, max_length=2, label_mode=None)
    assert list(ds.as_numpy_iterator()) == [b"du", b"to", b"a ", b"lo", b"h"]
    # "héllo": 'h' is 1 byte, 'é' 2: a cut through 'é' drops it, as no text holds half


def test_text_split_matches_the_image_rule(text_dir):
    root, _ = text_dir
    train, val = text_dataset(root, validation_split=0.4, subset="both", seed=42)
    paths = sorted(train.file_paths + val.file_paths)
    np.random.RandomState(42).shuffle(paths)
    assert train.file_paths == paths[:3] and val.file_paths == paths[3:]
    assert sum(len(x) for x, _ in train) == 3


@pytest.mark.parametrize("kwargs,match", [
    (dict(labels="folders"), "labels"),
    (dict(labels=[0.5] * 15), "labels"),
    (dict(labels=[0] * 15, class_names=["a"]), "class_names"),
    (dict(labels=None, class_names=["a"]), "class_names"),
    (dict(label_mode="sparse"), "label_mode"),
    (dict(class_names="daisy"), "class_names"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=2.0), "batch_size"),
    (dict(shuffle="yes"), "shuffle"),
    (dict(seed=1.5), "seed"),
    (dict(seed=-1), "seed"),  # RandomState's range: refused before listing, not after
    (dict(seed=2 ** 32), "seed"),
    (dict(validation_split=1.0, subset="training", seed=1), "validation_split"),
    (dict(validation_split=0.2), "subset"),
    (dict(subset="training"), "validation_split"),
    (dict(validation_split=0.2, subset="test", seed=1), "subset"),
    (dict(validation_split=0.2, subset="training"), "seed"),
    (dict(color_mode="bgr"), "color_mode"),
    (dict(image_size=(8,)), "image_size"),
    (dict(image_size=(8, 0)), "image_size"),
    (dict(interpolation="cubic"), "interpolation"),
    (dict(crop_to_aspect_ratio=1), "crop_to_aspect_ratio"),
    (dict(follow_links=None), "follow_links"),
])
def test_bad_arguments_are_refused_before_any_listing(image_dir, capsys, kwargs, match):
    with pytest.raises(ValueError, match=f"`{match}`") as info:
        image_dataset(image_dir, **kwargs)
    assert "image_dataset_from_directory" in str(info.value)
    assert capsys.readouterr().out == ""  # nothing listed, nothing printed


def test_bad_directory_and_text_arguments(tmp_path, text_dir):
    with pytest.raises(FileNotFoundError, match="`directory`.*missing"):
        image_dataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="`max_length`"):
        text_dataset(text_dir[0], max_length=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        image_dataset(tmp_path, image_sise=(4, 4))
    (tmp_path / "empty" / "c").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images found in directory"):
        image_dataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="no validation text files"):
        text_dataset(text_dir[0], validation_split=0.1, subset="both", seed=1)


def test_missing_pillow_names_the_extra(image_dir, monkeypatch, capsys):
    import sys
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pip install 'xlaflow\[images\]'"):
        image_dataset(image_dir)
    assert capsys.readouterr().out == ""


def test_undecodable_file_names_itself(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "broken.png").write_bytes(b"not a png")
    ds = image_dataset(tmp_path, batch_size=None)
    with pytest.raises(ValueError, match="broken.png"):
        list(ds)


@pytest.mark.parametrize("color_mode,channels", [("grayscale", 1), ("rgb", 3), ("rgba", 4)])
def test_16_bit_grayscale_png_keeps_the_high_byte(tmp_path, color_mode, channels):
    # TF's PNG decoder asks libpng for 8 bits (png_set_strip_16: the high byte); Pillow's
    # own I;16 -> L conversion clips every value past 255 to white
    values = np.random.default_rng(3).integers(0, 65536, (3, 5)).astype(np.uint16)
    (tmp_path / "c").mkdir()
    Image.fromarray(values).save(tmp_path / "c" / "deep.png")
    with Image.open(tmp_path / "c" / "deep.png") as check:
        assert check.mode.startswith("I")  # a 16-bit grayscale file indeed
    [image] = image_dataset(tmp_path, image_size=(3, 5), color_mode=color_mode,
                            label_mode=None, batch_size=None)
    expected = np.repeat((values >> 8)[..., None], min(channels, 3), axis=-1)
    if channels == 4:
        expected = np.concatenate([expected, np.full((3, 5, 1), 255)], axis=-1)
    np.testing.assert_array_equal(image.numpy(), expected.astype(np.float32))


def test_16_bit_grayscale_png_transparency_is_its_alpha(tmp_path):
    values = np.array([[0, 500, 70000 % 65536], [500, 65535, 256]], dtype=np.uint16)
    (tmp_path / "c").mkdir()
    Image.fromarray(values).save(tmp_path / "c" / "deep.png", transparency=500)
    [image] = image_dataset(tmp_path, image_size=(2, 3), color_mode="rgba",
                            label_mode=None, batch_size=None)
    np.testing.assert_array_equal(image.numpy()[..., 0], values >> 8)
    np.testing.assert_array_equal(image.numpy()[..., 3], np.where(values == 500, 0, 255))


def test_palette_png_with_transparency_decodes_without_warnings(tmp_path):
    # a palette PNG whose tRNS gives some entries alpha: TF reads its colours (and, for
    # rgba, the alpha); Pillow warns on converting one to RGB or L unless it goes via RGBA
    rgb = _pixels((4, 6, 3), 5)
    palette_image = Image.fromarray(rgb).convert("P")
    alphas = bytes([0, 90] + [255] * 254)
    (tmp_path / "c").mkdir()
    palette_image.save(tmp_path / "c" / "p.png", transparency=alphas)
    with Image.open(tmp_path / "c" / "p.png") as check:
        index = np.asarray(check)
        colours = np.asarray(check.getpalette(), dtype=np.float32).reshape(-1, 3)[index]
    alpha = np.asarray(list(alphas), dtype=np.float32)[index]
    for mode, expected in [("rgb", colours),
                           ("rgba", np.concatenate([colours, alpha[..., None]], axis=-1)),
                           ("grayscale", np.asarray(Image.fromarray(colours.astype(np.uint8))
                                                    .convert("L"), np.float32)[..., None])]:
        [image] = image_dataset(tmp_path, image_size=(4, 6), color_mode=mode,
                                label_mode=None, batch_size=None)
        np.testing.assert_array_equal(image.numpy(), expected)


def test_crop_to_nothing_names_the_file(tmp_path):
    # a 1 x 100 image cropped to the aspect ratio of (300, 1) keeps int(1 / 300) = 0
    # columns: TF refuses to resize an empty image; the error names the file and the sizes
    (tmp_path / "c").mkdir()
    Image.fromarray(_pixels((1, 100, 3), 0)).save(tmp_path / "c" / "thin.png")
    ds = image_dataset(tmp_path, image_size=(300, 1), crop_to_aspect_ratio=True,
                       batch_size=None)
    with pytest.raises(ValueError, match=r"thin\.png.*\(1, 100\).*\(300, 1\)"):
        list(ds)
