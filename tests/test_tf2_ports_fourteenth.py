"""TF2's "Basic text classification" tutorial, as tensorflow.org writes it, with the host-side
TextVectorization: adapt on the raw text dataset, map it over the pipeline, train, and the
export model that takes raw strings.

Reviews are small and synthetic (no downloads): one sentiment word decides the label, so the
vocabulary has a Counter oracle and a trained model must beat chance by far.
"""

import os
import re
import string
from collections import Counter

import numpy as np
import pytest

import xlaflow as tf
from tests.synthetic_reviews import reviews
from xlaflow import keras
from xlaflow.keras import layers, losses


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def test_basic_text_classification_with_text_vectorization():
    # 32 in the tutorial: 40 divides the 400, 80 and 80 reviews, so no last partial batch
    # compiles another train or test step
    batch_size = 40
    texts, labels = reviews(560, 1)
    raw_train_ds = tf.data.Dataset.from_tensor_slices((texts[:400], labels[:400])).batch(
        batch_size)
    raw_val_ds = tf.data.Dataset.from_tensor_slices((texts[400:480], labels[400:480])).batch(
        batch_size)
    raw_test_ds = tf.data.Dataset.from_tensor_slices((texts[480:], labels[480:])).batch(
        batch_size)

    def custom_standardization(input_data):
        lowercase = tf.strings.lower(input_data)
        stripped_html = tf.strings.regex_replace(lowercase, '<br />', ' ')
        return tf.strings.regex_replace(stripped_html,
                                        '[%s]' % re.escape(string.punctuation),  # noqa: UP031
                                        '')

    max_features = 22  # the 20 words of the reviews, padding and OOV
    sequence_length = 10
    vectorize_layer = layers.TextVectorization(
        standardize=custom_standardization,
        max_tokens=max_features,
        output_mode="int",
        output_sequence_length=sequence_length)
    train_text = raw_train_ds.map(lambda x, y: x)
    vectorize_layer.adapt(train_text)

    def vectorize_text(text, label):
        text = np.expand_dims(text, -1)  # tf.expand_dims: xlaflow tensors hold no strings
        return vectorize_layer(text), label

    text_batch, label_batch = next(iter(raw_train_ds))
    first_review, first_label = text_batch[0], label_batch[0]
    vectorized, label = vectorize_text(text_batch, label_batch)
    assert vectorized.shape == (batch_size, sequence_length) and vectorized.dtype == np.int64

    # oracle: the words counted in Python, ranked by count (ties by the larger word)
    def python_standardization(t):  # the same steps with Python's str methods
        return t.lower().replace("<br />", " ").translate(
            str.maketrans("", "", string.punctuation))

    counts = Counter(w for t in texts[:400] for w in python_standardization(t).split())
    ranked = sorted(counts, key=lambda w: (counts[w], w), reverse=True)[:max_features - 2]
    assert vectorize_layer.get_vocabulary() == ["", "[UNK]", *ranked]
    index = {w: i + 2 for i, w in enumerate(ranked)}
    words = python_standardization(str(first_review)).split()
    want = [index.get(w, 1) for w in words][:sequence_length]
    assert vectorized[0].tolist() == want + [0] * (sequence_length - len(want))
    assert first_label == label[0]
    print("1 ---> ", vectorize_layer.get_vocabulary()[1])
    print(f"Vocabulary size: {len(vectorize_layer.get_vocabulary())}")

    AUTOTUNE = tf.data.AUTOTUNE
    train_ds = raw_train_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)
    val_ds = raw_val_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)
    test_ds = raw_test_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)

    embedding_dim = 16
    model = tf.keras.Sequential([
        layers.Embedding(max_features + 1, embedding_dim),
        layers.Dropout(0.2),
        layers.GlobalAveragePooling1D(),
        layers.Dropout(0.2),
        layers.Dense(1)])
    model.compile(loss=losses.BinaryCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.Adam(0.02),  # "adam", for 10 batches an epoch
                  metrics=tf.metrics.BinaryAccuracy(threshold=0.0))
    history = model.fit(train_ds, validation_data=val_ds, epochs=12, verbose=0)
    loss, accuracy = model.evaluate(test_ds, verbose=0)
    assert accuracy > 0.9 and loss < history.history["loss"][0]

    export_model = tf.keras.Sequential([
        vectorize_layer,
        model,
        layers.Activation("sigmoid")])
    export_model.compile(loss=losses.BinaryCrossentropy(from_logits=False),
                         optimizer="adam", metrics=["accuracy"])
    # Test it with `raw_test_ds`, which yields raw strings
    metrics = export_model.evaluate(raw_test_ds, return_dict=True, verbose=0)
    assert metrics["accuracy"] == pytest.approx(accuracy, abs=1e-6)

    examples = ["The movie was great!", "The movie was okay.", "The movie was terrible..."]
    scores = export_model.predict(examples, verbose=0)
    assert scores.shape == (3, 1)
    assert scores[0, 0] > 0.5 > scores[2, 0]
