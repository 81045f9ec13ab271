"""TF2 beginner tutorials on structured data, as tensorflow.org writes them, with only the
imports changed: basic regression (fuel efficiency) and structured data with preprocessing.

The data are small and synthetic, written here instead of downloaded, and follow a known
rule (a linear target, a label from a threshold), so each outcome has a NumPy oracle.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _auto_mpg(n=320, seed=0):
    # the Auto MPG columns, with MPG linear in them (plus noise of std 0.5)
    rng = np.random.default_rng(seed)
    columns = {
        "Cylinders": rng.choice([4.0, 6.0, 8.0], n),
        "Displacement": rng.uniform(70, 450, n),
        "Horsepower": rng.uniform(45, 230, n),
        "Weight": rng.uniform(1600, 5100, n),
        "Acceleration": rng.uniform(8, 25, n),
        "Model Year": rng.integers(70, 83, n).astype(float),
    }
    mpg = (46.0 - 0.12 * columns["Horsepower"] - 0.004 * columns["Weight"]
           + 0.3 * (columns["Model Year"] - 76) + rng.normal(0, 0.5, n))
    return {k: v.astype("float32") for k, v in columns.items()}, mpg.astype("float32")


def test_basic_regression_fuel_efficiency(tmp_path):
    features, labels = _auto_mpg()
    # dataset.sample(frac=0.8) and drop(train_dataset.index), on a dict of columns
    train = np.random.default_rng(1).permutation(len(labels)) < int(0.8 * len(labels))
    train_features = {k: v[train] for k, v in features.items()}
    test_features = {k: v[~train] for k, v in features.items()}
    train_labels, test_labels = labels[train], labels[~train]
    as_array = lambda cols: np.stack(list(cols.values()), axis=1)  # np.array(DataFrame)

    normalizer = tf.keras.layers.Normalization(axis=-1)
    normalizer.adapt(as_array(train_features))
    np.testing.assert_allclose(normalizer.mean.numpy(), as_array(train_features).mean(0),
                               rtol=1e-5)
    np.testing.assert_allclose(normalizer.variance.numpy(), as_array(train_features).var(0),
                               rtol=1e-4)
    first = as_array(train_features)[:1]
    np.testing.assert_allclose(
        np.asarray(normalizer(first)),  # tensors are jax arrays: .numpy() is np.asarray
        (first - as_array(train_features).mean(0)) / as_array(train_features).std(0),
        atol=1e-4)

    # linear regression with one variable
    # Keras 2 expands a rank-1 input to the (None, 1) its model declares; xlaflow's
    # models refuse rank 1 (see the report of models/), so the column is (n, 1) here
    horsepower = np.array(train_features["Horsepower"])[:, None]
    horsepower_normalizer = layers.Normalization(input_shape=[1, ], axis=None)
    horsepower_normalizer.adapt(horsepower)
    horsepower_model = tf.keras.Sequential([horsepower_normalizer, layers.Dense(units=1)])
    assert horsepower_model.predict(horsepower[:10], verbose=0).shape == (10, 1)
    horsepower_model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.1),
                             loss="mean_absolute_error")
    history = horsepower_model.fit(horsepower, train_labels, epochs=60,
                                   verbose=0, validation_split=0.2)
    assert len(history.history["val_loss"]) == 60
    test_results = {}
    test_results["horsepower_model"] = horsepower_model.evaluate(
        test_features["Horsepower"][:, None], test_labels, verbose=0)
    # the oracle: NumPy's least squares on the one column, judged by the same MAE
    design = np.stack([test_features["Horsepower"], np.ones_like(test_labels)], 1)
    coef = np.linalg.lstsq(np.concatenate([horsepower, np.ones_like(horsepower)], 1), train_labels,
                           rcond=None)[0]
    lstsq_mae = np.mean(np.abs(design @ coef - test_labels))
    assert test_results["horsepower_model"] < lstsq_mae * 1.1
    x = tf.linspace(0.0, 250, 251)
    y = horsepower_model.predict(x[:, None], verbose=0)
    assert y.shape == (251, 1) and y[0, 0] > y[-1, 0]  # more horsepower, fewer miles

    # linear regression with multiple inputs
    linear_model = tf.keras.Sequential([normalizer, layers.Dense(units=1)])
    assert linear_model.predict(as_array(train_features)[:10], verbose=0).shape == (10, 1)
    assert linear_model.layers[1].kernel.shape == (6, 1)
    linear_model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.1),
                         loss="mean_absolute_error")
    linear_model.fit(as_array(train_features), train_labels, epochs=60, verbose=0,
                     validation_split=0.2)
    test_results["linear_model"] = linear_model.evaluate(as_array(test_features), test_labels,
                                                         verbose=0)
    # noise of std 0.5 has mean absolute value 0.5 * sqrt(2 / pi) = 0.40
    assert test_results["linear_model"] < 0.55 < test_results["horsepower_model"]
    # the learned line is the rule's: undo the normalization to read MPG per horsepower
    kernel = linear_model.layers[1].kernel.numpy()[:, 0] / np.sqrt(normalizer.variance.numpy())
    np.testing.assert_allclose(kernel[[2, 3]], [-0.12, -0.004], rtol=0.15)

    def build_and_compile_model(norm):
        model = keras.Sequential([
            norm,
            layers.Dense(64, activation="relu"),
            layers.Dense(64, activation="relu"),
            layers.Dense(1)
        ])
        model.compile(loss="mean_absolute_error", optimizer=tf.keras.optimizers.Adam(0.001))
        return model

    dnn_model = build_and_compile_model(normalizer)
    dnn_model.fit(as_array(train_features), train_labels, validation_split=0.2, verbose=0,
                  epochs=60)
    test_results["dnn_model"] = dnn_model.evaluate(as_array(test_features), test_labels,
                                                   verbose=0)
    assert test_results["dnn_model"] < 1.5
    test_predictions = dnn_model.predict(as_array(test_features), verbose=0).flatten()
    truth = (46.0 - 0.12 * test_features["Horsepower"] - 0.004 * test_features["Weight"]
             + 0.3 * (test_features["Model Year"] - 76))
    assert np.mean(np.abs(test_predictions - truth)) < 1.5
    dnn_model.save(str(tmp_path / "dnn_model.keras"))
    reloaded = tf.keras.models.load_model(str(tmp_path / "dnn_model.keras"))
    np.testing.assert_allclose(reloaded.evaluate(as_array(test_features), test_labels,
                                                 verbose=0), test_results["dnn_model"],
                               rtol=1e-5)


def _pet_finder(n=480, seed=2):
    # PetFinder's columns; adopted when the fee is low and the pet is young or a dog
    rng = np.random.default_rng(seed)
    columns = {
        "Type": rng.choice(["Cat", "Dog"], n),
        "Age": rng.choice([1, 2, 3, 4, 12, 24, 36], n).astype("int64"),
        "Color1": rng.choice(["Black", "Brown", "Cream", "Gray", "White"], n),
        "PhotoAmt": rng.integers(0, 10, n).astype("float32"),
        "Fee": rng.uniform(0, 300, n).astype("float32"),
    }
    target = ((columns["Fee"] < 150) & ((columns["Age"] <= 4) | (columns["Type"] == "Dog")))
    columns["target"] = target.astype("int64")
    return columns


def test_structured_data_with_preprocessing_layers_fit_save_and_reload(tmp_path):
    dataframe = _pet_finder()
    n = len(dataframe["target"])
    split = np.random.default_rng(3).permutation(n)
    train, val, test = ({k: v[idx] for k, v in dataframe.items()}
                        for idx in (split[:320], split[320:400], split[400:]))

    # the oracle: each string column's vocabulary by frequency (ties: the larger string
    # first, as Keras 2's StringLookup ranks them), four tokens after OOV at index 0
    vocabularies = {}
    for header in ["Type", "Color1"]:
        values, counts = np.unique(train[header], return_counts=True)
        vocabularies[header] = {v: i + 1 for i, v in
                                enumerate(values[np.lexsort((values, counts))[::-1]][:4])}

    def df_to_dataset(dataframe, shuffle=True, batch_size=32):
        df = dict(dataframe)
        labels = df.pop("target")
        df = {key: value[:, tf.newaxis] for key, value in df.items()}
        ds = tf.data.Dataset.from_tensor_slices((dict(df), labels))
        if shuffle:
            ds = ds.shuffle(buffer_size=len(labels))
        ds = ds.batch(batch_size)
        ds = ds.prefetch(batch_size)
        return ds

    batch_size = 32
    train_ds = df_to_dataset(train, batch_size=batch_size)
    val_ds = df_to_dataset(val, shuffle=False, batch_size=batch_size)
    test_ds = df_to_dataset(test, shuffle=False, batch_size=batch_size)
    [(train_features, label_batch)] = train_ds.take(1)
    assert sorted(train_features) == ["Age", "Color1", "Fee", "PhotoAmt", "Type"] and \
        train_features["Age"].shape == (batch_size, 1) and label_batch.shape == (batch_size,)

    def get_normalization_layer(name, dataset):
        normalizer = layers.Normalization(axis=None)
        feature_ds = dataset.map(lambda x, y: x[name])
        normalizer.adapt(feature_ds)
        return normalizer

    photo_count_col = train_features["PhotoAmt"]
    layer = get_normalization_layer("PhotoAmt", train_ds)
    np.testing.assert_allclose(
        np.asarray(layer(photo_count_col)),
        (photo_count_col - train["PhotoAmt"].mean()) / train["PhotoAmt"].std(), atol=1e-4)

    def get_category_encoding_layer(name, dataset, dtype, max_tokens=None):
        # Create a layer that turns strings into integer indices.
        if dtype == "string":
            index = layers.StringLookup(max_tokens=max_tokens)
        # Otherwise, create a layer that turns integer values into integer indices.
        else:
            index = layers.IntegerLookup(max_tokens=max_tokens)
        feature_ds = dataset.map(lambda x, y: x[name])
        index.adapt(feature_ds)
        encoder = layers.CategoryEncoding(num_tokens=index.vocabulary_size())
        return lambda feature: encoder(index(feature))

    test_type_col = train_features["Type"]
    test_type_layer = get_category_encoding_layer(name="Type", dataset=train_ds,
                                                  dtype="string")
    want = np.zeros((batch_size, 3), "float32")  # OOV, then the two types
    for row, kind in enumerate(test_type_col.numpy()[:, 0]):
        want[row, vocabularies["Type"][kind.decode()]] = 1.0
    np.testing.assert_array_equal(np.asarray(test_type_layer(test_type_col)), want)

    test_age_col = train_features["Age"]
    age_layer = get_category_encoding_layer(name="Age", dataset=train_ds, dtype="int64",
                                            max_tokens=5)
    encoded = np.asarray(age_layer(test_age_col))
    values, counts = np.unique(train["Age"], return_counts=True)
    top4 = values[np.lexsort((values, counts))[::-1]][:4]  # 5 tokens: OOV and 4 ages
    want = np.zeros((batch_size, 5), "float32")
    for row, age in enumerate(np.asarray(test_age_col)[:, 0]):
        want[row, 1 + top4.tolist().index(age) if age in top4 else 0] = 1.0
    np.testing.assert_array_equal(encoded, want)

    all_inputs = []
    encoded_features = []
    for header in ["PhotoAmt", "Fee"]:
        numeric_col = tf.keras.Input(shape=(1,), name=header)
        normalization_layer = get_normalization_layer(header, train_ds)
        encoded_numeric_col = normalization_layer(numeric_col)
        all_inputs.append(numeric_col)
        encoded_features.append(encoded_numeric_col)
    age_col = tf.keras.Input(shape=(1,), name="Age", dtype="int64")
    encoding_layer = get_category_encoding_layer(name="Age", dataset=train_ds, dtype="int64",
                                                 max_tokens=5)
    encoded_age_col = encoding_layer(age_col)
    all_inputs.append(age_col)
    encoded_features.append(encoded_age_col)
    categorical_cols = ["Type", "Color1"]
    for header in categorical_cols:
        categorical_col = tf.keras.Input(shape=(1,), name=header, dtype="string")
        encoding_layer = get_category_encoding_layer(name=header, dataset=train_ds,
                                                     dtype="string", max_tokens=5)
        encoded_categorical_col = encoding_layer(categorical_col)
        all_inputs.append(categorical_col)
        encoded_features.append(encoded_categorical_col)

    all_features = tf.keras.layers.concatenate(encoded_features)
    x = tf.keras.layers.Dense(32, activation="relu")(all_features)
    x = tf.keras.layers.Dropout(0.5)(x)
    output = tf.keras.layers.Dense(1)(x)
    model = tf.keras.Model(all_inputs, output)
    # the string lookups learned the oracle's vocabularies
    lookups = {layer.input.name: layer for layer in model.layers
               if isinstance(layer, layers.StringLookup)}
    assert {name: lookup.get_vocabulary() for name, lookup in lookups.items()} == \
        {name: ["[UNK]", *vocabulary] for name, vocabulary in vocabularies.items()}
    model.compile(optimizer="adam",
                  loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train_ds, epochs=40, validation_data=val_ds, verbose=0)
    _, accuracy = model.evaluate(test_ds, verbose=0)
    majority = max(test["target"].mean(), 1 - test["target"].mean())
    assert accuracy > max(0.8, majority + 0.1)  # the rule is deterministic: 1.0 is possible

    model.save(str(tmp_path / "my_pet_classifier.keras"))
    reloaded_model = tf.keras.models.load_model(str(tmp_path / "my_pet_classifier.keras"))
    adopted = {"Type": "Cat", "Age": 3, "Color1": "Black", "PhotoAmt": 2, "Fee": 20.0}
    not_adopted = {"Type": "Cat", "Age": 24, "Color1": "Black", "PhotoAmt": 2, "Fee": 280.0}
    for sample, rule in ((adopted, True), (not_adopted, False)):
        input_dict = {name: tf.convert_to_tensor([value]) for name, value in sample.items()}
        predictions = reloaded_model.predict(input_dict, verbose=0)
        np.testing.assert_allclose(predictions, model.predict(input_dict, verbose=0),
                                   rtol=1e-5)
        prob = tf.nn.sigmoid(predictions[0])
        assert (float(prob[0]) > 0.5) == rule  # the rule the data follow
