"""The seventeenth round of whole TF2 programs (see test_tf2_ports.py): the first half of
"Load and preprocess images" (tf.keras.utils.image_dataset_from_directory, Rescaling, cache
and prefetch, a small CNN's fit) and the loading part of "Basic text classification"
(text_dataset_from_directory over aclImdb's layout, then TextVectorization and fit), on
small synthetic directories written here (no downloads). Only the imports change, except
where a line says why.

Oracles: the tutorials' printed counts, file counts and sorted class names recomputed in
Python, each image's class read from its colour, each review's label from its folder.
"""

import ast
import os
import pathlib
import re
import shutil
import string

import numpy as np
import pytest

import xlaflow as tf
from tests.synthetic_reviews import reviews
from xlaflow import keras

pytest.importorskip("PIL")
import PIL.Image  # the tutorial's import (`import PIL` too), after the skip

FLOWERS = {"daisy": (240, 240, 240), "dandelion": (250, 220, 0), "roses": (200, 0, 30),
           "sunflowers": (240, 140, 0), "tulips": (150, 0, 160)}


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


@pytest.fixture
def flower_photos(tmp_path):
    """flower_photos/<class>/*.jpg as the tutorial's archive extracts: 16 photos of each
    class (noisy flat colour, sizes vary), and the archive's LICENSE.txt."""
    rng = np.random.default_rng(0)
    data_dir = tmp_path / "flower_photos"
    for name, color in FLOWERS.items():
        (data_dir / name).mkdir(parents=True)
        for k in range(16):
            shape = (40 + int(rng.integers(0, 20)), 40 + int(rng.integers(0, 20)), 3)
            pixels = np.clip(np.asarray(color) + rng.normal(0, 12, shape), 0, 255)
            PIL.Image.fromarray(pixels.astype(np.uint8)).save(data_dir / name / f"{k}.jpg")
    (data_dir / "LICENSE.txt").write_text("synthetic")
    return data_dir


def _nearest_class(image, class_names):
    mean = np.asarray(image).reshape(-1, 3).mean(axis=0)
    return min(class_names, key=lambda name: np.abs(mean - FLOWERS[name]).sum())


def test_load_and_preprocess_images_with_keras_utils(flower_photos, capsys):
    # archive = tf.keras.utils.get_file(origin=dataset_url, extract=True): written above
    data_dir = pathlib.Path(flower_photos)

    image_count = len(list(data_dir.glob('*/*.jpg')))
    print(image_count)

    roses = list(data_dir.glob('roses/*'))
    PIL.Image.open(str(roses[0])).close()  # a notebook shows it; here a leaked file fails

    batch_size = 32
    img_height = 32  # the tutorial's 180: the same program, faster on a CPU
    img_width = 32

    train_ds = tf.keras.utils.image_dataset_from_directory(
        data_dir,
        validation_split=0.2,
        subset="training",
        seed=123,
        image_size=(img_height, img_width),
        batch_size=batch_size)

    val_ds = tf.keras.utils.image_dataset_from_directory(
        data_dir,
        validation_split=0.2,
        subset="validation",
        seed=123,
        image_size=(img_height, img_width),
        batch_size=batch_size)

    class_names = train_ds.class_names
    print(class_names)
    assert capsys.readouterr().out == (
        "80\n"
        "Found 80 files belonging to 5 classes.\nUsing 64 files for training.\n"
        "Found 80 files belonging to 5 classes.\nUsing 16 files for validation.\n"
        "['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']\n")
    assert set(train_ds.file_paths).isdisjoint(val_ds.file_paths)

    # the plt.figure cell: imshow's image and title, checked instead of drawn
    for images, labels in train_ds.take(1):
        for i in range(9):
            shown = images[i].numpy().astype("uint8")
            title = class_names[labels[i]]
            assert shown.shape == (img_height, img_width, 3)
            assert _nearest_class(shown, class_names) == title

    for image_batch, labels_batch in train_ds:
        print(image_batch.shape)
        print(labels_batch.shape)
        break
    assert capsys.readouterr().out == "(32, 32, 32, 3)\n(32,)\n"

    normalization_layer = tf.keras.layers.Rescaling(1./255)

    normalized_ds = train_ds.map(lambda x, y: (normalization_layer(x), y))
    image_batch, labels_batch = next(iter(normalized_ds))
    first_image = image_batch[0]
    # Notice the pixel values are now in `[0,1]`.
    print(np.min(first_image), np.max(first_image))
    low, high = (float(v) for v in capsys.readouterr().out.split())
    assert 0.0 <= low < high <= 1.0
    assert labels_batch.shape == (32,)

    AUTOTUNE = tf.data.AUTOTUNE

    train_ds = train_ds.cache().prefetch(buffer_size=AUTOTUNE)
    val_ds = val_ds.cache().prefetch(buffer_size=AUTOTUNE)

    num_classes = 5

    model = tf.keras.Sequential([
        tf.keras.layers.Rescaling(1./255),
        tf.keras.layers.Conv2D(32, 3, activation='relu'),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Conv2D(32, 3, activation='relu'),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Conv2D(32, 3, activation='relu'),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation='relu'),
        tf.keras.layers.Dense(num_classes)
    ])

    model.compile(
        optimizer='adam',
        loss=tf.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=['accuracy'])

    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=3,
        verbose=0,  # the tutorial prints progress bars
    )
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 3 and np.all(np.isfinite(v)) for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.fixture
def aclImdb(tmp_path):
    """aclImdb/{train,test}/{pos,neg}/<id>_<stars>.txt and train/unsup, as the tutorial's
    archive extracts, with the synthetic reviews of tests/synthetic_reviews.py."""
    dataset_dir = tmp_path / "aclImdb"
    for split, (n, seed) in {"train": (200, 1), "test": (80, 2)}.items():
        texts, labels = reviews(n, seed)
        for name in ("pos", "neg", *(("unsup",) if split == "train" else ())):
            (dataset_dir / split / name).mkdir(parents=True)
        for k, (text, label) in enumerate(zip(texts, labels)):
            folder = "pos" if label else "neg"
            (dataset_dir / split / folder / f"{k}_{7 if label else 2}.txt").write_text(text)
        (dataset_dir / "train" / "unsup" / "0_0.txt").write_text("an unlabelled review")
    (dataset_dir / "README").write_text("synthetic")
    (dataset_dir / "imdb.vocab").write_text("the\nmovie\n")
    return dataset_dir, reviews(200, 1)


def test_basic_text_classification_loads_aclimdb_from_directories(aclImdb, capsys,
                                                                   monkeypatch):
    dataset_dir, (train_texts, train_labels) = aclImdb
    monkeypatch.chdir(dataset_dir.parent)  # the tutorial works next to the archive
    dataset_dir = os.path.join(os.path.dirname(str(dataset_dir)), 'aclImdb')
    assert sorted(os.listdir(dataset_dir)) == ["README", "imdb.vocab", "test", "train"]
    train_dir = os.path.join(dataset_dir, 'train')
    assert sorted(os.listdir(train_dir)) == ["neg", "pos", "unsup"]

    first_pos = min(os.listdir(os.path.join(train_dir, 'pos')))
    sample_file = os.path.join(train_dir, 'pos', first_pos)  # the tutorial's 1181_9.txt
    with open(sample_file) as f:
        print(f.read())

    remove_dir = os.path.join(train_dir, 'unsup')
    shutil.rmtree(remove_dir)
    capsys.readouterr()

    batch_size = 32
    seed = 42

    raw_train_ds = tf.keras.utils.text_dataset_from_directory(
        'aclImdb/train',
        batch_size=batch_size,
        validation_split=0.2,
        subset='training',
        seed=seed)
    n_pos = int(train_labels.sum())
    assert capsys.readouterr().out == ("Found 200 files belonging to 2 classes.\n"
                                       "Using 160 files for training.\n")

    for text_batch, label_batch in raw_train_ds.take(1):
        for i in range(3):
            print("Review", text_batch.numpy()[i])
            print("Label", label_batch.numpy()[i])
    lines = capsys.readouterr().out.splitlines()
    by_text = {t.encode(): int(y) for t, y in zip(train_texts, train_labels)}
    for review, label in zip(lines[0::2], lines[1::2]):
        text = ast.literal_eval(review[len("Review "):])  # the printed bytes literal
        assert isinstance(text, bytes) and label == f"Label {by_text[text]}"

    print("Label 0 corresponds to", raw_train_ds.class_names[0])
    print("Label 1 corresponds to", raw_train_ds.class_names[1])
    assert capsys.readouterr().out == ("Label 0 corresponds to neg\n"
                                       "Label 1 corresponds to pos\n")

    raw_val_ds = tf.keras.utils.text_dataset_from_directory(
        'aclImdb/train',
        batch_size=batch_size,
        validation_split=0.2,
        subset='validation',
        seed=seed)

    raw_test_ds = tf.keras.utils.text_dataset_from_directory(
        'aclImdb/test',
        batch_size=batch_size)
    assert capsys.readouterr().out == (
        "Found 200 files belonging to 2 classes.\nUsing 40 files for validation.\n"
        "Found 80 files belonging to 2 classes.\n")
    seen = [(t.decode(), int(y)) for ds in (raw_train_ds, raw_val_ds)
            for x, labels in ds.as_numpy_iterator() for t, y in zip(x, labels)]
    assert sorted(seen) == sorted(zip(train_texts.tolist(), train_labels.tolist()))
    assert sum(y for _, y in seen) == n_pos

    def custom_standardization(input_data):
        lowercase = tf.strings.lower(input_data)
        stripped_html = tf.strings.regex_replace(lowercase, '<br />', ' ')
        return tf.strings.regex_replace(stripped_html,
                                        '[%s]' % re.escape(string.punctuation),  # noqa: UP031
                                        '')

    max_features = 22  # the 20 words of the reviews, padding and OOV
    sequence_length = 10
    vectorize_layer = tf.keras.layers.TextVectorization(
        standardize=custom_standardization,
        max_tokens=max_features,
        output_mode='int',
        output_sequence_length=sequence_length)
    train_text = raw_train_ds.map(lambda x, y: x)
    vectorize_layer.adapt(train_text)

    def vectorize_text(text, label):
        text = np.expand_dims(text, -1)  # tf.expand_dims: xlaflow tensors hold no strings
        return vectorize_layer(text), label

    AUTOTUNE = tf.data.AUTOTUNE
    train_ds = raw_train_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)
    val_ds = raw_val_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)
    test_ds = raw_test_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)

    model = tf.keras.Sequential([
        tf.keras.layers.Embedding(max_features + 1, 16),
        tf.keras.layers.GlobalAveragePooling1D(),
        tf.keras.layers.Dense(1)])
    model.compile(loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  optimizer=tf.keras.optimizers.Adam(0.05),  # "adam", for 5 batches an epoch
                  metrics=tf.metrics.BinaryAccuracy(threshold=0.0))
    model.fit(train_ds, validation_data=val_ds, epochs=10, verbose=0)
    _, accuracy = model.evaluate(test_ds, verbose=0)
    assert accuracy > 0.85  # one sentiment word decides each label
