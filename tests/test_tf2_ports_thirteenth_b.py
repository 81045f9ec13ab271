"""TF2 text and autoencoder tutorials, as tensorflow.org writes them, with only the imports
changed: basic text classification / word embeddings, the convolutional VAE, and the
anomaly-detecting autoencoder of "Intro to Autoencoders".

Data are small and synthetic (no downloads) and follow a known rule, so each outcome has an
oracle outside xlaflow: a vocabulary counted in Python, a loss bound from pixel entropies.
"""

import os
import re
import string
from collections import Counter

import numpy as np
import pytest

import xlaflow as tf
from tests.synthetic_reviews import NEGATIVE, POSITIVE, reviews
from xlaflow import keras
from xlaflow.keras import layers, losses


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))



def test_basic_text_classification_and_word_embeddings(tmp_path):
    batch_size = 32
    texts, labels = reviews(480, 0)
    raw_train_ds = tf.data.Dataset.from_tensor_slices((texts[:320], labels[:320])).batch(
        batch_size)
    raw_val_ds = tf.data.Dataset.from_tensor_slices((texts[320:400], labels[320:400])).batch(
        batch_size)
    raw_test_ds = tf.data.Dataset.from_tensor_slices((texts[400:], labels[400:])).batch(
        batch_size)
    max_features = 22  # the 20 words the reviews use, padding and OOV
    sequence_length = 12

    # the standardize and split in Python in the tf.data pipeline, the vocabulary counted on
    # the host (most frequent first; 0 pads, 1 is OOV); checked below against the host-side
    # keras.layers.TextVectorization given the same vocabulary

    def custom_standardization(input_data):
        lowercase = str(input_data).lower()
        stripped_html = lowercase.replace("<br />", " ")
        return re.sub(f"[{re.escape(string.punctuation)}]", "", stripped_html)

    train_text = raw_train_ds.map(lambda x, y: x)
    counts = Counter(word for batch in train_text.as_numpy_iterator() for text in batch
                     for word in custom_standardization(text.decode()).split())  # bytes, as TF
    ranked = sorted(counts, key=lambda w: (-counts[w], w))[:max_features - 2]
    vocabulary = ["", "[UNK]", *ranked]
    index = {word: i for i, word in enumerate(vocabulary)}

    def vectorize_layer(text):
        ids = [index.get(w, 1) for w in custom_standardization(text).split()]
        ids = ids[:sequence_length]
        return np.asarray(ids + [0] * (sequence_length - len(ids)), "int64")

    def vectorize_text(text, label):
        return np.stack([vectorize_layer(t) for t in text]), label

    first_review, first_label = texts[0], labels[0]
    vectorized, _ = vectorize_text(texts[:1], labels[:1])
    want = [index.get(w, 1) for w in re.sub(r"[^\w\s]", "", first_review.lower().replace(
        "<br />", " ")).split()][:sequence_length]
    assert vectorized[0, :len(want)].tolist() == want and first_label in (0, 1)
    keras_layer = layers.TextVectorization(
        max_tokens=max_features, output_mode="int", output_sequence_length=sequence_length,
        vocabulary=vocabulary[2:],
        standardize=lambda x: np.char.translate(np.char.replace(
            np.char.lower(x), "<br />", " "), str.maketrans("", "", string.punctuation)))
    np.testing.assert_array_equal(keras_layer(np.array(texts)),
                                  vectorize_text(texts, labels)[0])
    assert vocabulary[1] == "[UNK]" and len(vocabulary) == max_features
    # every sentiment word is frequent enough to be in the vocabulary
    assert set(POSITIVE + NEGATIVE) <= set(vocabulary)

    train_ds = raw_train_ds.map(vectorize_text).cache().prefetch(buffer_size=tf.data.AUTOTUNE)
    val_ds = raw_val_ds.map(vectorize_text).cache().prefetch(buffer_size=tf.data.AUTOTUNE)
    test_ds = raw_test_ds.map(vectorize_text)

    embedding_dim = 16
    model = tf.keras.Sequential([
        layers.Embedding(max_features + 1, embedding_dim, name="embedding"),
        layers.Dropout(0.2),
        layers.GlobalAveragePooling1D(),
        layers.Dropout(0.2),
        layers.Dense(1)])
    model.compile(loss=losses.BinaryCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.Adam(0.01),  # "adam", for 10 batches an epoch
                  metrics=tf.metrics.BinaryAccuracy(threshold=0.0))
    history = model.fit(train_ds, validation_data=val_ds, epochs=15, verbose=0)
    assert set(history.history) == {"loss", "binary_accuracy", "val_loss",
                                    "val_binary_accuracy"}
    loss, accuracy = model.evaluate(test_ds, verbose=0)
    assert accuracy > 0.95 and loss < history.history["loss"][0]

    export_model = tf.keras.Sequential([model, layers.Activation("sigmoid")])
    examples = ["The movie was great!", "The movie was terrible..."]
    probs = np.asarray(export_model.predict(np.stack([vectorize_layer(e) for e in examples]),
                                            verbose=0))
    assert probs[0, 0] > 0.5 > probs[1, 0]

    # "Word embeddings": the embedding layer's weights, one row per vocabulary entry
    weights = model.get_layer("embedding").get_weights()[0]
    assert weights.shape == (max_features + 1, embedding_dim)
    with open(tmp_path / "vectors.tsv", "w", encoding="utf-8") as out_v, \
            open(tmp_path / "metadata.tsv", "w", encoding="utf-8") as out_m:
        for i, word in enumerate(vocabulary):
            if i == 0:
                continue  # skip 0, it's padding.
            out_v.write("\t".join([str(x) for x in weights[i]]) + "\n")
            out_m.write(word + "\n")
    assert np.loadtxt(tmp_path / "vectors.tsv").shape == (max_features - 1, embedding_dim)


def _bernoulli_entropy(p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def test_convolutional_variational_autoencoder():
    # binarized 16x16 "digits": one of two strokes, 3% of the pixels flipped
    rng = np.random.default_rng(0)
    strokes = np.zeros((2, 16, 16), "float32")
    strokes[0, 3:13, 7:9] = 1.0
    strokes[1, 7:9, 3:13] = 1.0
    which = rng.integers(0, 2, 384)
    images = np.abs(strokes[which] - (rng.random((384, 16, 16)) < 0.03))

    def preprocess_images(images):
        images = images.reshape((images.shape[0], 16, 16, 1))
        return np.where(images > .5, 1.0, 0.0).astype("float32")

    train_images, test_images = preprocess_images(images[:320]), preprocess_images(images[320:])
    batch_size = 32
    train_dataset = (tf.data.Dataset.from_tensor_slices(train_images)
                     .shuffle(320).batch(batch_size))
    test_dataset = tf.data.Dataset.from_tensor_slices(test_images).batch(batch_size)

    class CVAE(tf.keras.Model):
        """Convolutional variational autoencoder."""

        def __init__(self, latent_dim):
            super().__init__()
            self.latent_dim = latent_dim
            self.encoder = tf.keras.Sequential([
                tf.keras.layers.InputLayer(input_shape=(16, 16, 1)),
                tf.keras.layers.Conv2D(filters=16, kernel_size=3, strides=(2, 2),
                                       activation="relu"),
                tf.keras.layers.Conv2D(filters=32, kernel_size=3, strides=(2, 2),
                                       activation="relu"),
                tf.keras.layers.Flatten(),
                # No activation
                tf.keras.layers.Dense(latent_dim + latent_dim),
            ])
            self.decoder = tf.keras.Sequential([
                tf.keras.layers.InputLayer(input_shape=(latent_dim,)),
                tf.keras.layers.Dense(units=4 * 4 * 16, activation=tf.nn.relu),
                tf.keras.layers.Reshape(target_shape=(4, 4, 16)),
                tf.keras.layers.Conv2DTranspose(filters=32, kernel_size=3, strides=2,
                                                padding="same", activation="relu"),
                tf.keras.layers.Conv2DTranspose(filters=16, kernel_size=3, strides=2,
                                                padding="same", activation="relu"),
                # No activation
                tf.keras.layers.Conv2DTranspose(filters=1, kernel_size=3, strides=1,
                                                padding="same"),
            ])

        @tf.function
        def sample(self, eps=None):
            if eps is None:
                eps = tf.random.normal(shape=(100, self.latent_dim))
            return self.decode(eps, apply_sigmoid=True)

        def encode(self, x):
            mean, logvar = tf.split(self.encoder(x), num_or_size_splits=2, axis=1)
            return mean, logvar

        def reparameterize(self, mean, logvar):
            eps = tf.random.normal(shape=mean.shape)
            return eps * tf.exp(logvar * .5) + mean

        def decode(self, z, apply_sigmoid=False):
            logits = self.decoder(z)
            if apply_sigmoid:
                probs = tf.sigmoid(logits)
                return probs
            return logits

    optimizer = tf.keras.optimizers.Adam(1e-2)  # 1e-4 in the tutorial, for 60000 images

    def log_normal_pdf(sample, mean, logvar, raxis=1):
        log2pi = tf.math.log(2. * np.pi)
        return tf.reduce_sum(
            -.5 * ((sample - mean) ** 2. * tf.exp(-logvar) + logvar + log2pi),
            axis=raxis)

    def compute_loss(model, x):
        mean, logvar = model.encode(x)
        z = model.reparameterize(mean, logvar)
        x_logit = model.decode(z)
        cross_ent = tf.nn.sigmoid_cross_entropy_with_logits(logits=x_logit, labels=x)
        logpx_z = -tf.reduce_sum(cross_ent, axis=[1, 2, 3])
        logpz = log_normal_pdf(z, 0., 0.)
        logqz_x = log_normal_pdf(z, mean, logvar)
        return -tf.reduce_mean(logpx_z + logpz - logqz_x)

    @tf.function
    def train_step(model, x, optimizer):
        """Executes one training step and returns the loss."""
        with tf.GradientTape() as tape:
            loss = compute_loss(model, x)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    epochs = 8
    latent_dim = 2
    num_examples_to_generate = 16
    random_vector_for_generation = tf.random.normal(
        shape=[num_examples_to_generate, latent_dim])
    model = CVAE(latent_dim)

    def test_elbo():
        loss = tf.keras.metrics.Mean()
        for test_x in test_dataset:
            loss(compute_loss(model, test_x))
        return -float(loss.result())

    elbos = [test_elbo()]
    for _ in range(1, epochs + 1):
        for train_x in train_dataset:
            train_step(model, train_x, optimizer)
        elbos.append(test_elbo())
    # untrained, each pixel costs about log 2; a decoder that ignores z does no better than
    # the pixels' own entropies (the stroke's pixels are 50/50): the VAE must beat that
    pixels_alone = _bernoulli_entropy(train_images.mean(0)).sum()
    assert -elbos[0] > 0.5 * 256 * np.log(2.0)
    assert -elbos[-1] < pixels_alone, (elbos, pixels_alone)
    predictions = model.sample(random_vector_for_generation)
    assert predictions.shape == (16, 16, 16, 1)
    assert float(tf.reduce_min(predictions)) >= 0.0 and float(tf.reduce_max(predictions)) <= 1.0


def _ecg(n, seed):
    # 140-sample beats: normal ones a sharp R peak at 40% of the beat, abnormal ones a broad
    # late bump; amplitude, offset and noise vary. Column 140 is the label (1 is normal).
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, 140)
    normal = rng.random(n) < 0.6
    peak = np.where(normal, 0.4, 0.7)[:, None] + rng.normal(0, 0.01, (n, 1))
    width = np.where(normal, 0.03, 0.12)[:, None]
    beats = (rng.uniform(2.0, 3.0, (n, 1)) * np.exp(-((t - peak) / width) ** 2)
             - 0.5 * np.sin(2 * np.pi * t) + rng.normal(0, 0.05, (n, 140)))
    return np.concatenate([beats, normal[:, None]], 1)


def test_intro_to_autoencoders_anomaly_detection():
    raw_data = _ecg(1000, 1)
    labels = raw_data[:, -1]
    data = raw_data[:, 0:-1]
    # train_test_split(data, labels, test_size=0.2, random_state=21), in NumPy
    order = np.random.default_rng(21).permutation(len(data))
    train_data, test_data = data[order[:800]], data[order[800:]]
    train_labels, test_labels = labels[order[:800]], labels[order[800:]]

    min_val = tf.reduce_min(train_data)
    max_val = tf.reduce_max(train_data)
    train_data = (train_data - min_val) / (max_val - min_val)
    test_data = (test_data - min_val) / (max_val - min_val)
    train_data = tf.cast(train_data, tf.float32)
    test_data = tf.cast(test_data, tf.float32)
    np.testing.assert_allclose(float(tf.reduce_min(train_data)), 0.0, atol=1e-6)
    np.testing.assert_allclose(float(tf.reduce_max(train_data)), 1.0, atol=1e-6)

    train_labels = train_labels.astype(bool)
    test_labels = test_labels.astype(bool)
    normal_train_data = train_data[train_labels]
    normal_test_data = test_data[test_labels]
    anomalous_test_data = test_data[~test_labels]

    class AnomalyDetector(keras.Model):
        def __init__(self):
            super().__init__()
            self.encoder = tf.keras.Sequential([
                layers.Dense(32, activation="relu"),
                layers.Dense(16, activation="relu"),
                layers.Dense(8, activation="relu")])
            self.decoder = tf.keras.Sequential([
                layers.Dense(16, activation="relu"),
                layers.Dense(32, activation="relu"),
                layers.Dense(140, activation="sigmoid")])

        def call(self, x):
            encoded = self.encoder(x)
            decoded = self.decoder(encoded)
            return decoded

    # batches of 44 split the 484 normal training beats and the 88 anomalous test beats
    # evenly, and 40 the 200 test beats: a shorter last batch compiles a step of its own
    batch_size = 44
    assert len(normal_train_data) == 11 * batch_size and len(anomalous_test_data) == 88

    autoencoder = AnomalyDetector()
    autoencoder.compile(optimizer=keras.optimizers.Adam(0.01), loss="mae")  # "adam"
    history = autoencoder.fit(normal_train_data, normal_train_data,
                              epochs=20,
                              batch_size=batch_size,  # 512 for 2,900 beats
                              validation_data=(test_data, test_data),
                              validation_batch_size=40,  # Keras: batch_size by default
                              shuffle=True, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    encoded_data = autoencoder.encoder(normal_test_data)
    assert encoded_data.shape == (normal_test_data.shape[0], 8)

    reconstructions = autoencoder.predict(normal_train_data, batch_size=batch_size, verbose=0)
    train_loss = tf.keras.losses.mae(reconstructions, normal_train_data)
    np.testing.assert_allclose(
        train_loss, np.abs(reconstructions - np.asarray(normal_train_data)).mean(1), rtol=1e-5)
    threshold = np.mean(train_loss) + np.std(train_loss)

    def predict(model, data, threshold):
        reconstructions = model(data)
        loss = tf.keras.losses.mae(reconstructions, data)
        return tf.math.less(loss, threshold)

    preds = np.asarray(predict(autoencoder, test_data, threshold))
    # accuracy_score, precision_score, recall_score, in NumPy
    accuracy = np.mean(preds == test_labels)
    precision = np.sum(preds & test_labels) / np.sum(preds)
    recall = np.sum(preds & test_labels) / np.sum(test_labels)
    # a threshold one std above the mean passes about 5/6 of the normal beats, and the
    # anomalies, a shape the autoencoder never saw, reconstruct badly
    assert accuracy > 0.85 and precision > 0.95 and recall > 0.75, (accuracy, precision,
                                                                    recall)
    # the tutorial's predict (its histogram of these losses): the program of the batches above
    reconstructions = autoencoder.predict(anomalous_test_data, batch_size=batch_size, verbose=0)
    anomalous_loss = tf.keras.losses.mae(reconstructions, anomalous_test_data)
    assert np.mean(anomalous_loss) > threshold
