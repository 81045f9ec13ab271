"""The sixteenth round of whole TF2 programs (see test_tf2_ports.py): TF's "tf.data: Build
TensorFlow input pipelines" guide as written, with its `.numpy()` calls, prints,
TextLineDataset and Counter (test_tf2_ports_ninth.py ported it before elements had
`.numpy()`), and the pipeline parts of "Load CSV data" and "Load and preprocess images",
on small synthetic files (no downloads). Only the imports change, except where a line
says why.

Oracles: the guide's printed output where it is deterministic, else the same values
recomputed in NumPy or Python (csv module, list slicing, sorted file names).
"""

import csv
import gzip
import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


_TITANIC_COLUMNS = ["survived", "sex", "age", "n_siblings_spouses", "parch", "fare", "class",
                    "deck", "embark_town", "alone"]


@pytest.fixture
def titanic_file(tmp_path):
    """A titanic train.csv of the guide's shape: 627 rows and a header (628 lines)."""
    rng = np.random.default_rng(0)
    rows = [[int(rng.integers(0, 2)), ["male", "female"][rng.integers(0, 2)],
             float(rng.integers(1, 80)), int(rng.integers(0, 4)), int(rng.integers(0, 3)),
             round(float(rng.uniform(5, 100)), 4), ["First", "Second", "Third"][rng.integers(0, 3)],
             ["unknown", "B", "C"][rng.integers(0, 3)],
             ["Southampton", "Cherbourg"][rng.integers(0, 2)], ["y", "n"][rng.integers(0, 2)]]
            for _ in range(627)]
    path = tmp_path / "train.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(_TITANIC_COLUMNS)
        writer.writerows(rows)
    return str(path), rows


def test_basic_mechanics_print_numpy_and_reduce(capsys):
    dataset = tf.data.Dataset.from_tensor_slices([8, 3, 0, 8, 2, 1])
    for elem in dataset:
        print(elem.numpy())
    it = iter(dataset)
    print(next(it).numpy())
    print(dataset.reduce(0, lambda state, value: state + value).numpy())
    assert capsys.readouterr().out.split() == ["8", "3", "0", "8", "2", "1", "8", "22"]

    dataset1 = tf.data.Dataset.from_tensor_slices(
        tf.random.uniform([4, 10], minval=1, maxval=10, dtype=tf.int32))
    for z in dataset1:
        print(z.numpy())
    printed = capsys.readouterr().out
    expected = "".join(f"{row}\n" for row in np.stack(list(dataset1.as_numpy_iterator())))
    assert printed == expected
    dataset2 = tf.data.Dataset.from_tensor_slices(
        (tf.random.uniform([4]),
         tf.random.uniform([4, 100], maxval=100, dtype=tf.int32)))
    dataset3 = tf.data.Dataset.zip((dataset1, dataset2))
    for a, (b, c) in dataset3:
        print('shapes: {a.shape}, {b.shape}, {c.shape}'.format(a=a, b=b, c=c))  # noqa: UP032
    assert capsys.readouterr().out == "shapes: (10,), (), (100,)\n" * 4


def test_generators_count_and_padded_series(capsys):
    def count(stop):
        i = 0
        while i < stop:
            yield i
            i += 1

    ds_counter = tf.data.Dataset.from_generator(count, args=[25], output_types=tf.int32,
                                                output_shapes=(), )
    for count_batch in ds_counter.repeat().batch(10).take(10):
        print(count_batch.numpy())
    flat = np.arange(100) % 25
    assert capsys.readouterr().out == "".join(f"{flat[i:i + 10]}\n" for i in range(0, 100, 10))

    lengths = {}

    def gen_series():
        i = 0
        while True:
            size = np.random.randint(0, 10)
            lengths[i] = size
            yield i, np.random.normal(size=(size,))
            i += 1

    ds_series = tf.data.Dataset.from_generator(
        gen_series,
        output_types=(tf.int32, tf.float32),
        output_shapes=((), (None,)))
    ds_series_batch = ds_series.shuffle(20).padded_batch(10)
    ids, sequence_batch = next(iter(ds_series_batch))
    ids = ids.numpy()
    batch = sequence_batch.numpy()
    assert batch.dtype == np.float32 and batch.shape == (10, max(lengths[i] for i in ids))
    for row, i in zip(batch, ids):  # zero-padded after each series' own length
        assert not row[lengths[i]:].any() and row[:lengths[i]].all()


def test_batching_padded_batch_and_time_series(capsys):
    inc_dataset = tf.data.Dataset.range(100)
    dec_dataset = tf.data.Dataset.range(0, -100, -1)
    dataset = tf.data.Dataset.zip((inc_dataset, dec_dataset))
    batched_dataset = dataset.batch(4)
    for batch in batched_dataset.take(4):
        print([arr.numpy() for arr in batch])
    assert capsys.readouterr().out.splitlines()[0] == \
        "[array([0, 1, 2, 3]), array([ 0, -1, -2, -3])]"  # the guide's first line

    dataset = tf.data.Dataset.range(100)
    dataset = dataset.map(lambda x: tf.fill([tf.cast(x, tf.int32)], x))
    dataset = dataset.padded_batch(4, padded_shapes=(None,))
    for batch in dataset.take(2):
        print(batch.numpy())
        print()
    assert capsys.readouterr().out == (
        "[[0 0 0]\n [1 0 0]\n [2 2 0]\n [3 3 3]]\n\n"
        "[[4 4 4 4 0 0 0]\n [5 5 5 5 5 0 0]\n [6 6 6 6 6 6 0]\n [7 7 7 7 7 7 7]]\n\n")

    range_ds = tf.data.Dataset.range(100000)
    batches = range_ds.batch(10, drop_remainder=True)

    def dense_1_step(batch):
        # Shift features and labels one step relative to each other.
        return batch[:-1], batch[1:]

    predict_dense_1_step = batches.map(dense_1_step)
    for features, label in predict_dense_1_step.take(3):
        print(features.numpy(), " => ", label.numpy())
    assert capsys.readouterr().out.splitlines()[1] == \
        "[10 11 12 13 14 15 16 17 18]  =>  [11 12 13 14 15 16 17 18 19]"

    feature_length = 10
    label_length = 3
    features = range_ds.batch(feature_length, drop_remainder=True)
    labels = range_ds.batch(feature_length).skip(1).map(lambda labels: labels[:label_length])
    predicted_steps = tf.data.Dataset.zip((features, labels))
    for features, label in predicted_steps.take(5):
        print(features.numpy(), " => ", label.numpy())
    assert capsys.readouterr().out.splitlines()[4] == \
        "[40 41 42 43 44 45 46 47 48 49]  =>  [50 51 52]"

    window_size = 5
    windows = range_ds.window(window_size, shift=1)
    for x in windows.flat_map(lambda x: x).take(30):
        print(x.numpy(), end=' ')
    assert capsys.readouterr().out.split() == [str(s + k) for s in range(6) for k in range(5)]

    def make_window_dataset(ds, window_size=5, shift=1, stride=1):
        windows = ds.window(window_size, shift=shift, stride=stride)

        def sub_to_batch(sub):
            return sub.batch(window_size, drop_remainder=True)

        windows = windows.flat_map(sub_to_batch)
        return windows

    ds = make_window_dataset(range_ds, window_size=10, shift=5, stride=3)
    got = [example.numpy() for example in ds.take(10)]
    np.testing.assert_array_equal(got, [np.arange(s, s + 30, 3) for s in range(0, 50, 5)])
    dense_labels_ds = ds.map(dense_1_step)
    for inputs, labels in dense_labels_ds.take(1):
        print(inputs.numpy(), "=>", labels.numpy())
    assert capsys.readouterr().out == \
        "[ 0  3  6  9 12 15 18 21 24] => [ 3  6  9 12 15 18 21 24 27]\n"


def test_text_lines_repeat_shuffle_and_counter(titanic_file, capsys):
    titanic_file, _ = titanic_file
    titanic_lines = tf.data.TextLineDataset(titanic_file)
    batch_sizes = [batch.shape[0] for batch in titanic_lines.repeat(3).batch(128)]
    assert batch_sizes == [128] * 14 + [628 * 3 - 128 * 14]
    titanic_batches = titanic_lines.batch(128).repeat(3)
    assert [batch.shape[0] for batch in titanic_batches] == ([128] * 4 + [628 - 512]) * 3

    epochs = 3
    dataset = titanic_lines.batch(128)
    for epoch in range(epochs):
        for batch in dataset:
            print(batch.shape)
        print("End of epoch: ", epoch)
    assert capsys.readouterr().out.splitlines()[4:6] == ["(116,)", "End of epoch:  0"]

    lines = tf.data.TextLineDataset(titanic_file)
    counter = tf.data.experimental.Counter()
    dataset = tf.data.Dataset.zip((counter, lines))
    dataset = dataset.shuffle(buffer_size=100)
    dataset = dataset.batch(20)
    n, line_batch = next(iter(dataset))
    assert n.numpy().max() < 120 and len(set(n.numpy())) == 20
    with open(titanic_file, newline="") as f:
        text = f.read().split("\n")[:-1]
    assert [line.decode() for line in line_batch.numpy()] == [text[i] for i in n.numpy()]

    dataset = tf.data.Dataset.zip((counter, lines))
    shuffled = dataset.shuffle(buffer_size=100).batch(10).repeat(2)
    shuffle_repeat = [n.numpy().mean() for n, line_batch in shuffled]
    assert len(shuffle_repeat) == 2 * 63  # 628 lines in batches of 10, twice
    print("Here are the item ID's near the epoch boundary:\n")
    for n, line_batch in shuffled.skip(60).take(5):
        print(n.numpy())
    ids = [n.numpy() for n, _ in shuffled.skip(60).take(5)]
    assert [len(batch) for batch in ids] == [10, 10, 8, 10, 10]  # 628 = 62 * 10 + 8
    # the second epoch's first draws come from a buffer of ids 0..99 refilled one at a time
    assert ids[3].max() < 110 and ids[4].max() < 120
    epoch = np.concatenate([n.numpy() for n, _ in shuffled.take(63)])
    assert sorted(epoch.tolist()) == list(range(628))


def test_csv_sections_make_csv_dataset_and_csv_dataset(titanic_file):
    titanic_file, rows = titanic_file
    titanic_batches = tf.data.experimental.make_csv_dataset(
        titanic_file, batch_size=4,
        label_name="survived")
    for feature_batch, label_batch in titanic_batches.take(1):
        line = "'survived': {}".format(label_batch)  # noqa: UP032
        fields = {key: value for key, value in feature_batch.items()}
    assert line.startswith("'survived': [") and set(fields) == set(_TITANIC_COLUMNS[1:])
    assert fields["class"].numpy().dtype == object  # strings read as TF's bytes

    titanic_batches = tf.data.experimental.make_csv_dataset(
        titanic_file, batch_size=4,
        label_name="survived", select_columns=['class', 'fare', 'survived'])
    for feature_batch, label_batch in titanic_batches.take(1):
        assert sorted(feature_batch) == ["class", "fare"]

    # The guide writes tf.string here; xlaflow has no string dtype name, and the CSV
    # tutorial's form of the same types (Python values) reads the same file.
    titanic_types = [int(), str(), float(), int(), int(), float(),  # noqa: UP018
                     str(), str(), str(), str()]  # noqa: UP018
    dataset = tf.data.experimental.CsvDataset(titanic_file, titanic_types, header=True)
    got = [[item.numpy() for item in line] for line in dataset.take(10)]
    expected = [[v.encode() if isinstance(v, str) else v for v in row] for row in rows[:10]]
    assert [[pytest.approx(v) if isinstance(v, float) else v for v in row]
            for row in expected] == got

    simple = tf.data.experimental.CsvDataset(titanic_file, record_defaults=titanic_types,
                                             header=True)
    for example in simple.take(1):
        assert [e.numpy() for e in example][1] == rows[0][1].encode()


def test_load_csv_tutorial_gzip_cache_and_multiple_files(tmp_path):
    traffic = tmp_path / "traffic.csv.gz"
    volume = np.arange(600) * 7 % 1000
    with gzip.open(traffic, "wt") as f:
        f.write("temp,rain_1h,traffic_volume\n")
        for i, v in enumerate(volume):
            f.write(f"{280 + i % 10},{i % 3 * 0.5},{v}\n")
    traffic_volume_csv_gz_ds = tf.data.experimental.make_csv_dataset(
        str(traffic),
        batch_size=256,
        label_name='traffic_volume',
        num_epochs=1,
        compression_type="GZIP")
    labels = []
    for batch, label in traffic_volume_csv_gz_ds:
        assert set(batch) == {"temp", "rain_1h"}
        labels.extend(label.numpy().tolist())
    assert sorted(labels) == sorted(volume.tolist())
    caching = traffic_volume_csv_gz_ds.cache().shuffle(1000)
    cached = []
    for i, (batch, label) in enumerate(caching.shuffle(1000).repeat(2)):
        cached.extend(label.numpy().tolist())
    assert i == 2 * 3 - 1 and sorted(cached) == sorted(volume.tolist() * 2)

    os.mkdir(tmp_path / "fonts")
    names = {"AGENCY": "ABC", "ARIAL": "xyz"}
    for font, chars in names.items():
        with open(tmp_path / "fonts" / f"{font}.csv", "w") as f:
            f.write("font,fontVariant,m_label,strength\n")
            f.writelines(f"{font},{font} FB,{ord(c)},0.4\n" for c in chars)
    font_csvs = sorted(str(p) for p in (tmp_path / "fonts").glob("*.csv"))
    font_column_types = [str(), str()] + [float()] * 2  # noqa: UP018
    simple_font_ds = tf.data.experimental.CsvDataset(
        font_csvs,
        record_defaults=font_column_types,
        header=True)
    assert [row[0].numpy() for row in simple_font_ds.take(10)] == \
        [b"AGENCY"] * 3 + [b"ARIAL"] * 3
    font_files = tf.data.Dataset.list_files(str(tmp_path / "fonts" / "*.csv"))

    def make_font_csv_ds(path):
        return tf.data.experimental.CsvDataset(
            path,
            record_defaults=font_column_types,
            header=True)

    font_rows = font_files.interleave(make_font_csv_ds, cycle_length=3)
    fonts_dict = {'font_name': [], 'character': []}
    for row in font_rows.take(10):
        fonts_dict['font_name'].append(row[0].numpy().decode())
        fonts_dict['character'].append(chr(int(row[2].numpy())))  # m_label read as float
    pairs = sorted(zip(fonts_dict['font_name'], fonts_dict['character']))
    assert pairs == sorted((f, c) for f, chars in names.items() for c in chars)


def test_resampling_counts_filter_and_sample_from_datasets(tmp_path, capsys):
    rng = np.random.default_rng(1)
    n = 3000
    classes = (rng.random(n) < 0.05).astype(int)
    csv_path = tmp_path / "creditcard.csv"
    with open(csv_path, "w") as f:
        f.write(",".join([f"V{i}" for i in range(30)] + ["Class"]) + "\n")
        f.writelines(",".join(f"{v:.3f}" for v in rng.normal(size=30)) + f",{c}\n"
                     for c in classes)
    creditcard_ds = tf.data.experimental.make_csv_dataset(
        str(csv_path), batch_size=1024, label_name="Class",
        # Set the column types: 30 floats and an int.
        column_defaults=[float()] * 30 + [int()])  # noqa: UP018

    def count(counts, batch):
        features, labels = batch  # noqa: RUF059
        class_1 = labels == 1
        class_1 = tf.cast(class_1, tf.int32)

        class_0 = labels == 0
        class_0 = tf.cast(class_0, tf.int32)

        counts['class_0'] += tf.reduce_sum(class_0)
        counts['class_1'] += tf.reduce_sum(class_1)

        return counts

    counts = creditcard_ds.take(3).reduce(
        initial_state={'class_0': 0, 'class_1': 0},
        reduce_func=count)
    counts = np.array([counts['class_0'].numpy(),
                       counts['class_1'].numpy()]).astype(np.float32)
    assert counts.sum() == 3 * 1024  # make_csv_dataset repeats: 3 full batches
    fractions = counts / counts.sum()
    assert abs(fractions[1] - classes.mean()) < 0.03

    negative_ds = (
        creditcard_ds
        .unbatch()
        .filter(lambda features, label: label == 0)
        .repeat())
    positive_ds = (
        creditcard_ds
        .unbatch()
        .filter(lambda features, label: label == 1)
        .repeat())
    for features, label in positive_ds.batch(10).take(1):
        print(label.numpy())
    assert capsys.readouterr().out == "[1 1 1 1 1 1 1 1 1 1]\n"
    balanced_ds = tf.data.Dataset.sample_from_datasets(
        [negative_ds, positive_ds], [0.5, 0.5]).batch(10)
    drawn = np.concatenate([labels.numpy() for features, labels in balanced_ds.take(20)])
    assert 0.3 < drawn.mean() < 0.7  # 200 fair draws: within about 3 standard deviations
    with pytest.raises(NotImplementedError, match="sample_from_datasets"):
        creditcard_ds.unbatch().rejection_resample(
            lambda features, label: label, target_dist=[0.5, 0.5], initial_dist=fractions)


def test_images_tutorial_finer_control_with_list_files(tmp_path):
    from PIL import Image
    data_dir = tmp_path / "flower_photos"
    colors = {"daisy": (250, 250, 250), "roses": (200, 0, 0), "tulips": (250, 200, 0)}
    for name, color in colors.items():
        os.makedirs(data_dir / name)
        for k in range(4):
            Image.new("RGB", (12 + k, 10), color).save(data_dir / name / f"{k}.png")
    (data_dir / "LICENSE.txt").write_text("synthetic")
    image_count = len(list(data_dir.glob('*/*.png')))
    img_height = img_width = 8
    batch_size = 5
    AUTOTUNE = tf.data.AUTOTUNE

    list_ds = tf.data.Dataset.list_files(str(data_dir / '*/*'), shuffle=False)
    list_ds = list_ds.shuffle(image_count, reshuffle_each_iteration=False)
    first = [f.numpy() for f in list_ds.take(5)]
    assert first == [f.numpy() for f in list_ds.take(5)]  # the same order every pass
    class_names = np.array(sorted([item.name for item in data_dir.glob('*')
                                   if item.name != "LICENSE.txt"]))
    assert class_names.tolist() == ["daisy", "roses", "tulips"]
    val_size = int(image_count * 0.2)
    train_ds = list_ds.skip(val_size)
    val_ds = list_ds.take(val_size)
    assert tf.data.experimental.cardinality(train_ds).numpy() == image_count - val_size
    assert tf.data.experimental.cardinality(val_ds).numpy() == val_size

    def get_label(file_path):
        # Convert the path to a list of path components
        parts = tf.strings.split(file_path, os.path.sep)
        # The second to last is the class-directory
        one_hot = parts[-2] == class_names
        # Integer encode the label
        return tf.argmax(one_hot)

    # tf.io.read_file / tf.io.decode_jpeg: the same steps with PIL, which a Dataset.map
    # runs on the host.
    def decode_img(path):
        img = np.asarray(Image.open(path).convert("RGB"))
        return tf.image.resize(img, [img_height, img_width])

    def process_path(file_path):
        label = get_label(file_path)
        img = decode_img(str(file_path))
        return img, label

    train_ds = train_ds.map(process_path, num_parallel_calls=AUTOTUNE)
    val_ds = val_ds.map(process_path, num_parallel_calls=AUTOTUNE)
    for image, label in train_ds.take(1):
        assert image.numpy().shape == (8, 8, 3)
        assert label.numpy() in (0, 1, 2)

    def configure_for_performance(ds):
        ds = ds.cache()
        ds = ds.shuffle(buffer_size=1000)
        ds = ds.batch(batch_size)
        ds = ds.prefetch(buffer_size=AUTOTUNE)
        return ds

    train_ds = configure_for_performance(train_ds)
    image_batch, label_batch = next(iter(train_ds))
    for i in range(5):
        shown = image_batch[i].numpy().astype("uint8")  # plt.imshow's argument
        label = label_batch[i]
        title = class_names[label]  # plt.title's
        assert shown.shape == (8, 8, 3)
        np.testing.assert_array_equal(shown[0, 0], colors[title])

    normalization_layer = keras.layers.Rescaling(1. / 255)
    normalized_ds = train_ds.map(lambda x, y: (normalization_layer(x), y))
    image_batch, labels_batch = next(iter(normalized_ds))  # noqa: RUF059
    first_image = image_batch[0]
    assert 0.0 <= np.min(first_image) <= np.max(first_image) <= 1.0
