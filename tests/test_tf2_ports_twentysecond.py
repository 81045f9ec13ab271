"""The twenty-second round of whole TF2 programs (see test_tf2_ports.py): Keras 2's (TF 2.12)
"Working with preprocessing layers" guide as written, imports changed ("Customizing what
happens in fit()" is in test_tf2_ports_twentysecond_b.py). Small synthetic arrays stand in
for CIFAR-10, and a small conv net for keras.applications.ResNet50 (built and trained in seconds).

Oracles: the guide's printed outputs, and Keras 2's documented vocabulary rules recomputed
in Python: tokens ranked by count, ties by the token descending; ids 0 (mask, int mode) and
[UNK]; TF-IDF weights log(1 + documents / (1 + document frequency)), [UNK] their mean.
"""

import collections
import math
import os
import re

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


# the guide's np.random.randint and the int64 ids: JAX without x64 keeps 32 bits and warns
int64_warning = pytest.mark.filterwarnings("ignore:Explicitly requested dtype int64")

_STRIP = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')  # Keras 2's strip regex


def _tokens(text, ngrams=None):
    """Keras 2's default standardize (ASCII lowercase, strip punctuation), whitespace split
    and n-grams up to `ngrams`, joined by spaces."""
    lowered = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    words = _STRIP.sub("", lowered).split()
    widths = range(1, (ngrams or 1) + 1)
    return [" ".join(words[i:i + n]) for n in widths for i in range(len(words) - n + 1)]


def _ranked(token_lists):
    """Keras 2's adapted vocabulary: count descending, ties by the token's bytes descending
    (IndexLookup's np.lexsort((tokens, counts))[::-1])."""
    counts = collections.Counter(t for tokens in token_lists for t in tokens)
    return sorted(counts, key=lambda t: (counts[t], t.encode("utf-8")), reverse=True)


def test_adapt_normalization_text_vectorization_and_a_string_lookup_vocabulary(capsys):
    data = np.array([[0.1, 0.2, 0.3], [0.8, 0.9, 1.0], [1.5, 1.6, 1.7],])
    layer = layers.Normalization()
    layer.adapt(data)
    normalized_data = layer(data)

    print("Features mean: %.2f" % (normalized_data.numpy().mean()))  # noqa: UP031
    print("Features std: %.2f" % (normalized_data.numpy().std()))  # noqa: UP031
    out = capsys.readouterr().out.splitlines()
    assert out[0] in ("Features mean: -0.00", "Features mean: 0.00")  # rounding's sign
    assert out[1] == "Features std: 1.00"
    want = (data - data.mean(0)) / data.std(0)  # per feature: the last axis is kept
    np.testing.assert_allclose(normalized_data.numpy(), want, rtol=1e-5, atol=1e-6)

    data = [
        "ξεῖν᾽, ἦ τοι μὲν ὄνειροι ἀμήχανοι ἀκριτόμυθοι",
        "γίγνοντ᾽, οὐδέ τι πάντα τελείεται ἀνθρώποισι.",
        "δοιαὶ γάρ τε πύλαι ἀμενηνῶν εἰσὶν ὀνείρων:",
        "αἱ μὲν γὰρ κεράεσσι τετεύχαται, αἱ δ᾽ ἐλέφαντι:",
        "τῶν οἳ μέν κ᾽ ἔλθωσι διὰ πριστοῦ ἐλέφαντος,",
        "οἵ ῥ᾽ ἐλεφαίρονται, ἔπε᾽ ἀκράαντα φέροντες:",
        "οἱ δὲ διὰ ξεστῶν κεράων ἔλθωσι θύραζε,",
        "οἵ ῥ᾽ ἔτυμα κραίνουσι, βροτῶν ὅτε κέν τις ἴδηται.",
    ]
    layer = layers.TextVectorization()
    layer.adapt(data)
    vectorized_text = layer(data)
    print(vectorized_text)

    guide_printed = [[37, 12, 25, 5, 9, 20, 21, 0, 0],
                     [51, 34, 27, 33, 29, 18, 0, 0, 0],
                     [49, 52, 30, 31, 19, 46, 10, 0, 0],
                     [7, 5, 50, 43, 28, 7, 47, 17, 0],
                     [24, 35, 39, 40, 3, 6, 32, 16, 0],
                     [4, 2, 15, 14, 22, 23, 0, 0, 0],
                     [36, 48, 6, 38, 42, 3, 45, 0, 0],
                     [4, 2, 13, 41, 53, 8, 44, 26, 11]]
    np.testing.assert_array_equal(vectorized_text.numpy(), guide_printed)
    tokens = [_tokens(line) for line in data]
    vocab = ["", "[UNK]", *_ranked(tokens)]  # int mode: 0 pads, 1 is out of vocabulary
    assert layer.get_vocabulary() == vocab
    width = max(map(len, tokens))  # padded with 0 to the longest text
    np.testing.assert_array_equal(
        vectorized_text, [[vocab.index(t) for t in line] + [0] * (width - len(line))
                          for line in tokens])
    assert "\n".join(capsys.readouterr().out.splitlines()[-8:]) == str(np.array(guide_printed))

    vocab = ["a", "b", "c", "d"]
    data = tf.constant([["a", "c", "d"], ["d", "z", "b"]])
    layer = layers.StringLookup(vocabulary=vocab)
    vectorized_data = layer(data)
    print(vectorized_data)
    assert capsys.readouterr().out == "[[1 3 4]\n [4 0 2]]\n"  # the guide's values; 0 is OOV
    assert vectorized_data.numpy().tolist() == [[1, 3, 4], [4, 0, 2]]


def test_preprocessing_in_the_pipeline_and_inside_an_inference_model():
    # the guide's two placements of a preprocessing layer: dataset.map(...) before a
    # training model, and the same layer inside the model exported for inference
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(64, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-1.0], [0.5], [2.0]], "float32")).astype("float32")
    preprocessing_layer = layers.Normalization()
    preprocessing_layer.adapt(x)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    dataset = dataset.map(lambda x, y: (preprocessing_layer(x), y))
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    first, _ = next(iter(dataset))
    np.testing.assert_allclose(first, (x[:16] - x.mean(0)) / x.std(0), rtol=1e-4, atol=1e-5)

    training_model = keras.Sequential([keras.Input((4,)), layers.Dense(1)])
    training_model.compile(optimizer="sgd", loss="mse")
    training_model.fit(dataset, epochs=2, verbose=0)

    inputs = keras.Input(shape=(4,))
    x_in = preprocessing_layer(inputs)
    outputs = training_model(x_in)
    inference_model = keras.Model(inputs, outputs)
    kernel, bias = training_model.get_weights()
    want = (x - x.mean(0)) / x.std(0) @ kernel + bias
    np.testing.assert_allclose(inference_model.predict(x, verbose=0), want, rtol=1e-4,
                               atol=1e-4)


def test_recipe_image_data_augmentation():
    # Create a data augmentation stage with horizontal flipping, rotations, zooms
    data_augmentation = keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.1),
            layers.RandomZoom(0.1),
        ]
    )

    # Load some data (CIFAR-10's shapes and dtypes; the first four images one flat color,
    # which flips, rotations and zooms with reflected borders must leave as they are)
    rng = np.random.default_rng(2)
    x_train = rng.integers(0, 256, size=(96, 32, 32, 3)).astype("uint8")
    x_train[:4] = np.arange(4).reshape(4, 1, 1, 1) * 60 + 10
    y_train = rng.integers(0, 10, size=(96, 1)).astype("uint8")
    input_shape = x_train.shape[1:]
    classes = 10

    # Create a tf.data pipeline of augmented images (and their labels)
    train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    train_dataset = train_dataset.batch(16).map(lambda x, y: (data_augmentation(x), y))

    images, labels = next(iter(train_dataset))
    assert images.shape == (16, 32, 32, 3) and images.dtype == np.float32
    np.testing.assert_array_equal(labels, y_train[:16])
    np.testing.assert_allclose(images[:4], x_train[:4].astype("float32"), atol=1e-3)
    # random noise images are moved by each draw (called directly, the layers augment)
    assert (np.abs(np.asarray(images[4:]) - x_train[4:16]).max(axis=(1, 2, 3)) > 1).all()

    # Create a model and train it on the augmented image data (a small conv net stands in
    # for keras.applications.ResNet50(weights=None, ...), to keep this test fast; the
    # architecture itself is tested in tests/keras/test_applications*.py)
    assert callable(keras.applications.ResNet50)
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)  # Rescale inputs
    x = layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    history = model.fit(train_dataset, steps_per_epoch=5, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 5
    assert 0 < history.history["loss"][0] < 2 * math.log(classes)  # near chance, finite


def test_recipe_normalizing_numerical_features():
    # Load some data (flattened 8x8x3 images for CIFAR-10's 32x32x3)
    rng = np.random.default_rng(3)
    x_train = rng.integers(0, 256, size=(256, 8, 8, 3)).astype("uint8")
    y_train = rng.integers(0, 10, size=(256, 1)).astype("uint8")
    x_train = x_train.reshape((len(x_train), -1))
    input_shape = x_train.shape[1:]
    classes = 10

    # Create a Normalization layer and set its internal state using the training data
    normalizer = layers.Normalization()
    normalizer.adapt(x_train)

    # Create a model that include the normalization layer
    inputs = keras.Input(shape=input_shape)
    x = normalizer(inputs)
    outputs = layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)

    # Train the model
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x_train, y_train, verbose=0)

    features = x_train.astype("float64")
    np.testing.assert_allclose(normalizer.mean.numpy().ravel(), features.mean(0), rtol=1e-5)
    np.testing.assert_allclose(normalizer.variance.numpy().ravel(), features.var(0),
                               rtol=1e-4)
    np.testing.assert_allclose(normalizer(x_train[:8]),
                               (features[:8] - features.mean(0)) / features.std(0),
                               rtol=1e-4, atol=1e-4)
    assert int(model.optimizer.iterations.numpy()) == 8  # 256 rows in batches of 32
    kernel, bias = model.layers[-1].get_weights()
    logits = (features - features.mean(0)) / features.std(0) @ kernel + bias
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict(x_train, verbose=0), probs, rtol=1e-3,
                               atol=1e-5)
    assert np.isfinite(history.history["loss"][0])


def test_recipe_encoding_string_categorical_features_via_one_hot(capsys):
    # Define some toy data
    data = tf.constant([["a"], ["b"], ["c"], ["b"], ["c"], ["a"]])

    # Use StringLookup to build an index of the feature values and encode output.
    lookup = layers.StringLookup(output_mode="one_hot")
    lookup.adapt(data)

    # Convert new test data (which includes unknown feature values)
    test_data = tf.constant([["a"], ["b"], ["c"], ["d"], ["e"], [""]])
    encoded_data = lookup(test_data)
    print(encoded_data)

    # the guide's output: a, b, c tie at 2 and rank c, b, a (descending); 0 is [UNK]
    vocab = ["[UNK]", *_ranked([["a", "b", "c", "b", "c", "a"]])]
    assert lookup.get_vocabulary() == vocab == ["[UNK]", "c", "b", "a"]
    want = np.eye(4, dtype="float32")[[vocab.index(v) if v in vocab else 0
                                       for v in ("a", "b", "c", "d", "e", "")]]
    np.testing.assert_array_equal(encoded_data, want)
    assert capsys.readouterr().out == str(want) + "\n"


def test_recipe_encoding_integer_categorical_features_via_one_hot(capsys):
    # Define some toy data
    data = tf.constant([[10], [20], [20], [10], [30], [0]])

    # Use IntegerLookup to build an index of the feature values and encode output.
    lookup = layers.IntegerLookup(output_mode="one_hot")
    lookup.adapt(data)

    # Convert new test data (which includes unknown feature values)
    test_data = tf.constant([[10], [10], [20], [50], [60], [0]])
    encoded_data = lookup(test_data)
    print(encoded_data)

    guide_printed = [[0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 1, 0, 0, 0],
                     [1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 1]]
    np.testing.assert_array_equal(encoded_data, guide_printed)
    # 10 and 20 tie at 2 (20 first: descending), then 30 and 0; index 0 is out of
    # vocabulary, and 0 is an ordinary value (Keras 2.12's IntegerLookup has no mask)
    counts = collections.Counter([10, 20, 20, 10, 30, 0])
    vocab = [-1, *sorted(counts, key=lambda v: (counts[v], v), reverse=True)]
    assert lookup.get_vocabulary() == vocab
    ids = [vocab.index(v) if v in vocab[1:] else 0 for v in (10, 10, 20, 50, 60, 0)]
    np.testing.assert_array_equal(guide_printed, np.eye(5)[ids])
    assert capsys.readouterr().out == str(np.array(guide_printed, "float32")) + "\n"


def _siphash24(k0, k1, message):
    """SipHash-2-4 (Aumasson and Bernstein's reference), TF's to_hash_bucket_strong."""
    mask = (1 << 64) - 1

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & mask

    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rounds(n):
        for _ in range(n):
            v[0] = (v[0] + v[1]) & mask
            v[1] = rotl(v[1], 13) ^ v[0]
            v[0] = rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & mask
            v[3] = rotl(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & mask
            v[3] = rotl(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & mask
            v[1] = rotl(v[1], 17) ^ v[2]
            v[2] = rotl(v[2], 32)

    tail = len(message) % 8
    words = [int.from_bytes(message[i:i + 8], "little")
             for i in range(0, len(message) - tail, 8)]
    words.append(int.from_bytes(message[len(message) - tail:], "little")
                 | ((len(message) & 0xFF) << 56))
    for m in words:
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


@int64_warning
def test_recipe_hashing_trick_on_an_integer_categorical_feature(capsys):
    # the reference implementation's first test vector: key 00..0f, empty message
    assert _siphash24(0x0706050403020100, 0x0F0E0D0C0B0A0908, b"") == 0x726FDB47DD0E0E31

    # Sample data: 10,000 random integers with values between 0 and 100,000
    data = np.random.randint(0, 100000, size=(10000, 1))

    # Use the Hashing layer to hash the values to the range [0, 64]
    hasher = layers.Hashing(num_bins=64, salt=1337)

    # Use the CategoryEncoding layer to multi-hot encode the hashed values
    encoder = layers.CategoryEncoding(num_tokens=64, output_mode="multi_hot")
    encoded_data = encoder(hasher(data))
    print(encoded_data.shape)
    assert capsys.readouterr().out == "(10000, 64)\n"

    # each integer is hashed as its decimal string, SipHash keyed (salt, salt), mod 64
    bins = [_siphash24(1337, 1337, str(v).encode()) % 64 for v in data[:, 0].tolist()]
    np.testing.assert_array_equal(encoded_data, np.eye(64, dtype="float32")[bins])


ADAPT_TEXTS = ["The Brain is wider than the Sky", "For put them side by side",
               "The one the other will contain", "With ease and You beside"]
TRAIN_TEXTS = ["The Brain is deeper than the sea", "for if they are held blue to blue"]


def _gru_forward(ids, table, kernel, recurrent, bias, w_out, b_out):
    """Embedding, Keras 2's GRU (gates z, r, h; reset_after=True) and Dense in NumPy."""
    units = recurrent.shape[0]
    h = np.zeros((ids.shape[0], units))
    for t in range(ids.shape[1]):
        x = table[ids[:, t]] @ kernel + bias[0]
        inner = h @ recurrent + bias[1]
        z = 1 / (1 + np.exp(-(x[:, :units] + inner[:, :units])))
        r = 1 / (1 + np.exp(-(x[:, units:2 * units] + inner[:, units:2 * units])))
        hh = np.tanh(x[:, 2 * units:] + r * inner[:, 2 * units:])
        h = z * h + (1 - z) * hh
    return h @ w_out + b_out


@int64_warning
def test_recipe_encoding_text_as_a_sequence_of_token_indices(capsys):
    # Define some text data to adapt the layer
    adapt_data = tf.constant(
        [
            "The Brain is wider than the Sky",
            "For put them side by side",
            "The one the other will contain",
            "With ease and You beside",
        ]
    )

    # Create a TextVectorization layer
    text_vectorizer = layers.TextVectorization(output_mode="int")
    # Index the vocabulary via `adapt()`
    text_vectorizer.adapt(adapt_data)

    # Try out the layer
    print(
        "Encoded text:\n", text_vectorizer(["The Brain is deeper than the sea"]).numpy(),
    )
    assert capsys.readouterr().out == "Encoded text:\n [[ 2 19 14  1  9  2  1]]\n"
    vocab = ["", "[UNK]", *_ranked(_tokens(t) for t in ADAPT_TEXTS)]
    assert text_vectorizer.get_vocabulary() == vocab

    # Create a simple model
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(input_dim=text_vectorizer.vocabulary_size(), output_dim=16)(inputs)
    x = layers.GRU(8)(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)

    # Create a labeled dataset (which includes unknown tokens)
    train_dataset = tf.data.Dataset.from_tensor_slices(
        (["The Brain is deeper than the sea", "for if they are held blue to blue"], [1, 0])
    )

    # Preprocess the string inputs, turning them into int sequences
    train_dataset = train_dataset.batch(2).map(lambda x, y: (text_vectorizer(x), y))
    # Train the model on the int sequences
    print("\nTraining model...")
    model.compile(optimizer="rmsprop", loss="mse")
    before = model.get_weights()
    history = model.fit(train_dataset, verbose=0)

    # For inference, you can export a model that accepts strings as input
    inputs = keras.Input(shape=(1,), dtype="string")
    x = text_vectorizer(inputs)
    outputs = model(x)
    end_to_end_model = keras.Model(inputs, outputs)

    # Call the end-to-end model on test data (which includes unknown tokens)
    print("\nCalling end-to-end model on test string...")
    test_data = tf.constant(["The one the other will absorb"])
    test_output = end_to_end_model(test_data)
    print("Model output:", test_output)

    def ids(texts):
        rows = [[vocab.index(t) if t in vocab else 1 for t in _tokens(s)] for s in texts]
        width = max(map(len, rows))
        return np.array([r + [0] * (width - len(r)) for r in rows])

    # the one step's loss at the weights before it; the output at the weights after it
    first = _gru_forward(ids(TRAIN_TEXTS), *before)
    np.testing.assert_allclose(history.history["loss"][0],
                               np.mean((first[:, 0] - [1, 0]) ** 2), rtol=1e-4)
    np.testing.assert_allclose(test_output, _gru_forward(ids(["The one the other will "
                                                              "absorb"]), *model.get_weights()),
                               rtol=1e-4, atol=1e-6)
    assert capsys.readouterr().out.startswith("\nTraining model...\n\nCalling end-to-end")


def _ngram_oracle(mode):
    """The recipe's vocabulary and its encoding of TRAIN_TEXTS[0], from Keras 2's rules."""
    docs = [_tokens(t, ngrams=2) for t in ADAPT_TEXTS]
    vocab = ["[UNK]", *_ranked(docs)]  # not int mode: no mask, [UNK] is 0
    tokens = _tokens(TRAIN_TEXTS[0], ngrams=2)
    counts = np.zeros(len(vocab))
    for t in tokens:
        counts[vocab.index(t) if t in vocab else 0] += 1
    if mode == "multi_hot":
        return vocab, np.minimum(counts, 1)
    frequency = [sum(t in d for d in docs) for t in vocab[1:]]
    idf = [math.log(1 + len(docs) / (1 + f)) for f in frequency]
    return vocab, counts * np.array([np.mean(idf), *idf])


@pytest.mark.parametrize("output_mode", ["multi_hot", "tf_idf"])
def test_recipe_encoding_text_as_ngrams_multi_hot_and_tf_idf(capsys, output_mode):
    # Define some text data to adapt the layer
    adapt_data = tf.constant(
        [
            "The Brain is wider than the Sky",
            "For put them side by side",
            "The one the other will contain",
            "With ease and You beside",
        ]
    )
    # Instantiate TextVectorization with "multi_hot" output_mode (the multi-hot recipe)
    # or "tf_idf" (the TF-IDF recipe), and ngrams=2 (index all bigrams)
    text_vectorizer = layers.TextVectorization(output_mode=output_mode, ngrams=2)
    # Index the bigrams (and learn the TF-IDF weights) via `adapt()`
    with tf.device("CPU"):
        # A bug that prevents this from running on GPU for now (the TF-IDF recipe's note).
        text_vectorizer.adapt(adapt_data)

    # Try out the layer
    print(
        "Encoded text:\n", text_vectorizer(["The Brain is deeper than the sea"]).numpy(),
    )
    encoded = text_vectorizer(["The Brain is deeper than the sea"]).numpy()

    # Create a simple model
    inputs = keras.Input(shape=(text_vectorizer.vocabulary_size(),))
    outputs = layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)

    # Create a labeled dataset (which includes unknown tokens)
    train_dataset = tf.data.Dataset.from_tensor_slices(
        (["The Brain is deeper than the sea", "for if they are held blue to blue"], [1, 0])
    )

    # Preprocess the string inputs, turning them into int sequences
    train_dataset = train_dataset.batch(2).map(lambda x, y: (text_vectorizer(x), y))
    # Train the model on the int sequences
    print("\nTraining model...")
    model.compile(optimizer="rmsprop", loss="mse")
    kernel, bias = model.get_weights()
    history = model.fit(train_dataset, verbose=0)

    # For inference, you can export a model that accepts strings as input
    inputs = keras.Input(shape=(1,), dtype="string")
    x = text_vectorizer(inputs)
    outputs = model(x)
    end_to_end_model = keras.Model(inputs, outputs)

    # Call the end-to-end model on test data (which includes unknown tokens)
    print("\nCalling end-to-end model on test string...")
    test_data = tf.constant(["The one the other will absorb"])
    test_output = end_to_end_model(test_data)
    print("Model output:", test_output)

    vocab, want = _ngram_oracle(output_mode)
    assert text_vectorizer.get_vocabulary() == vocab and len(vocab) == 41
    np.testing.assert_allclose(encoded, [want], rtol=1e-6)
    if output_mode == "tf_idf":  # the guide's first printed values: [UNK] x 5, "the" x 2
        np.testing.assert_allclose(encoded[0, :2], [5.461647, 1.6945957], rtol=1e-6)
    train = np.asarray(text_vectorizer(TRAIN_TEXTS))
    np.testing.assert_allclose(history.history["loss"][0],
                               np.mean(((train @ kernel + bias)[:, 0] - [1, 0]) ** 2),
                               rtol=1e-5)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(test_output, np.asarray(text_vectorizer(test_data)) @ kernel
                               + bias, rtol=1e-5, atol=1e-6)
    assert capsys.readouterr().out.startswith("Encoded text:\n [[")
