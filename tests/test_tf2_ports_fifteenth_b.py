"""TF2 training-loop guides with their tapes run eagerly, as the guides run them (see
test_tf2_ports_fifteenth.py): "Custom training: basics", "Custom training: walkthrough"
(iris, on a synthetic CSV) and "Writing a training loop from scratch".

Oracles: gradient descent in NumPy (closed-form gradients), the same steps replayed with
jax.grad on plain jax.numpy models over the batches the loops saw, and accuracies
recomputed in NumPy from the trained weights.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _mlp(params, x):
    """Dense layers (relu between them, linear last) as [kernel, bias, kernel, bias, ...]."""
    for i in range(0, len(params) - 2, 2):
        x = jax.nn.relu(x @ params[i] + params[i + 1])
    return x @ params[-2] + params[-1]


def _sparse_xent(params, x, y):
    logits = _mlp(params, x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))


def _sgd_replay(params, batches, learning_rate, loss=_sparse_xent):
    """Plain SGD over `batches` with jax.grad: the losses and the final parameters."""
    losses = []
    step = jax.jit(jax.value_and_grad(loss))
    for x, y in batches:
        value, grads = step(params, x, y)
        losses.append(float(value))
        params = [p - learning_rate * g for p, g in zip(params, grads)]
    return losses, params


def test_custom_training_basics_eager_train_step_on_a_module_and_a_keras_model(capsys):
    # The actual line
    TRUE_W = 3.0
    TRUE_B = 2.0
    NUM_EXAMPLES = 201
    # A vector of random x values
    x = tf.linspace(-2, 2, NUM_EXAMPLES)
    x = tf.cast(x, tf.float32)

    def f(x):
        return x * TRUE_W + TRUE_B

    # Generate some noise
    noise = tf.random.normal(shape=[NUM_EXAMPLES])
    # Calculate y
    y = f(x) + noise

    class MyModel(tf.Module):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Initialize the weights to `5.0` and the bias to `0.0`
            # In practice, these should be randomly initialized
            self.w = tf.Variable(5.0)
            self.b = tf.Variable(0.0)

        def __call__(self, x):
            return self.w * x + self.b

    model = MyModel()
    # List the variables tf.modules's built-in variable aggregation.
    print("Variables:", model.variables)
    # Verify the model works
    assert model(3.0).numpy() == 15.0

    # This computes a single loss value for an entire batch
    def loss(target_y, predicted_y):
        return tf.reduce_mean(tf.square(target_y - predicted_y))

    # Given a callable model, inputs, outputs, and a learning rate...
    def train(model, x, y, learning_rate):
        with tf.GradientTape() as t:
            # Trainable variables are automatically tracked by GradientTape
            current_loss = loss(y, model(x))
        # Use GradientTape to calculate the gradients with respect to W and b
        dw, db = t.gradient(current_loss, [model.w, model.b])
        # Subtract the gradient scaled by the learning rate
        model.w.assign_sub(learning_rate * dw)
        model.b.assign_sub(learning_rate * db)

    # Collect the history of W-values and b-values to plot later
    weights = []
    biases = []
    epochs = range(10)

    # Define a training loop
    def report(model, loss):
        return f"W = {model.w.numpy():1.2f}, b = {model.b.numpy():1.2f}, loss={loss:2.5f}"

    def training_loop(model, x, y):
        for epoch in epochs:
            # Update the model with the single giant batch
            train(model, x, y, learning_rate=0.1)
            # Track this before I update
            weights.append(model.w.numpy())
            biases.append(model.b.numpy())
            current_loss = loss(y, model(x))
            print(f"Epoch {epoch:2d}:")
            print("    ", report(model, current_loss))

    current_loss = loss(y, model(x))
    print("Starting:")
    print("    ", report(model, current_loss))
    training_loop(model, x, y)

    # the oracle: ten steps of gradient descent on the mean squared error, in float64
    xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
    w, b, want = 5.0, 0.0, []
    for _ in epochs:
        err = w * xs + b - ys
        w, b = w - 0.1 * 2 * np.mean(err * xs), b - 0.1 * 2 * np.mean(err)
        want.append((w, b))
    np.testing.assert_allclose(np.stack([weights, biases], 1), want, rtol=1e-5)
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == f"     W = 5.00, b = 0.00, loss={np.mean((5 * xs - ys) ** 2):2.5f}"
    assert lines[-2:] == ["Epoch  9:", f"     W = {want[-1][0]:1.2f}, b = {want[-1][1]:1.2f}, "
                          f"loss={np.mean((want[-1][0] * xs + want[-1][1] - ys) ** 2):2.5f}"]

    # The same solution, with Keras: the guide's Keras model through the same loop
    class MyModelKeras(tf.keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Initialize the weights to `5.0` and the bias to `0.0`
            # In practice, these should be randomly initialized
            self.w = tf.Variable(5.0)
            self.b = tf.Variable(0.0)

        def call(self, x):
            return self.w * x + self.b

    keras_model = MyModelKeras()
    weights, biases = [], []
    # Reuse the training loop with a Keras model
    training_loop(keras_model, x, y)
    np.testing.assert_allclose(np.stack([weights, biases], 1), want, rtol=1e-5)


IRIS_CENTERS = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.1]])


def _write_iris_like(path, n, rng):
    # iris's layout: a first line of counts and class names, then 4 features and the label
    labels = rng.integers(0, 3, size=n)
    features = np.round(IRIS_CENTERS[labels] + rng.normal(scale=0.15, size=(n, 4)), 1)
    with open(path, "w") as f:
        f.write(f"{n},4,setosa,versicolor,virginica\n")
        f.writelines(",".join(f"{v:.1f}" for v in row) + f",{label}\n"
                     for row, label in zip(features, labels))
    return features.astype(np.float32), labels


def test_custom_training_walkthrough_iris_trained_in_an_eager_loop(tmp_path):
    rng = np.random.default_rng(0)
    train_dataset_fp, test_dataset_fp = tmp_path / "iris_training.csv", tmp_path / "iris_test.csv"
    _write_iris_like(train_dataset_fp, 96, rng)
    # 32 test rows (iris_test.csv has 30): one batch of the training batches' size, whose
    # eager ops are compiled already
    test_x, test_y = _write_iris_like(test_dataset_fp, 32, rng)

    # column order in CSV file
    column_names = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    label_name = column_names[-1]
    class_names = ["Iris setosa", "Iris versicolor", "Iris virginica"]
    batch_size = 32
    train_dataset = tf.data.experimental.make_csv_dataset(
        str(train_dataset_fp),
        batch_size,
        column_names=column_names,
        label_name=label_name,
        num_epochs=1)

    def pack_features_vector(features, labels):
        """Pack the features into a single array."""
        features = tf.stack(list(features.values()), axis=1)
        return features, labels

    train_dataset = train_dataset.map(pack_features_vector)

    model = tf.keras.Sequential([
        tf.keras.layers.Dense(10, activation=tf.nn.relu, input_shape=(4,)),  # input shape required
        tf.keras.layers.Dense(10, activation=tf.nn.relu),
        tf.keras.layers.Dense(3)
    ])
    loss_object = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss(model, x, y, training):
        # training=training is needed only if there are layers with different
        # behavior during training versus inference (e.g. Dropout).
        y_ = model(x, training=training)
        return loss_object(y_true=y, y_pred=y_)

    def grad(model, inputs, targets):
        with tf.GradientTape() as tape:
            loss_value = loss(model, inputs, targets, training=True)
        return loss_value, tape.gradient(loss_value, model.trainable_variables)

    optimizer = tf.keras.optimizers.SGD(learning_rate=0.05)
    features, labels = next(iter(train_dataset))
    start = [jnp.asarray(v.numpy()) for v in model.trainable_variables]
    loss_value, grads = grad(model, features, labels)
    print(f"Step: {optimizer.iterations.numpy()}, Initial Loss: {loss_value.numpy()}")
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    print(f"Step: {optimizer.iterations.numpy()}, "
          f"Loss: {loss(model, features, labels, training=True).numpy()}")
    # the oracle: one SGD step with jax.grad on the same batch
    (want_loss,), want = _sgd_replay(start, [(features, labels.astype(np.int32))], 0.05)
    assert float(loss_value) == pytest.approx(want_loss, rel=1e-5)
    for var, p in zip(model.trainable_variables, want):
        np.testing.assert_allclose(var.numpy(), p, rtol=1e-4, atol=1e-6)

    ## Note: Rerunning this cell uses the same model parameters
    # Keep results for plotting
    train_loss_results = []
    train_accuracy_results = []
    seen = []
    num_epochs = 25
    for epoch in range(num_epochs):
        epoch_loss_avg = tf.keras.metrics.Mean()
        epoch_accuracy = tf.keras.metrics.SparseCategoricalAccuracy()
        # Training loop - using batches of 32
        for x, y in train_dataset:
            seen.append((x, y.astype(np.int32)))
            # Optimize the model
            loss_value, grads = grad(model, x, y)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            # Track progress
            epoch_loss_avg.update_state(loss_value)  # Add current batch loss
            # Compare predicted label to actual label
            # training=True is needed only if there are layers with different
            # behavior during training versus inference (e.g. Dropout).
            epoch_accuracy.update_state(y, model(x, training=True))
        # End epoch
        train_loss_results.append(epoch_loss_avg.result())
        train_accuracy_results.append(epoch_accuracy.result())
        if epoch % 5 == 0:
            print(f"Epoch {epoch:03d}: Loss: {epoch_loss_avg.result():.3f}, "
                  f"Accuracy: {epoch_accuracy.result():.3%}")

    # the oracle: the same batches, in the order the loop saw them, through jax.grad SGD
    losses, want = _sgd_replay(want, seen, 0.05)
    for var, p in zip(model.trainable_variables, want):
        np.testing.assert_allclose(var.numpy(), p, rtol=2e-3, atol=2e-4)
    per_epoch = np.asarray(losses).reshape(num_epochs, 3).mean(1)  # 3 batches of 32
    np.testing.assert_allclose(train_loss_results, per_epoch, rtol=2e-3)
    # plain SGD on raw iris features wanders (the guide runs 201 epochs): bounds, not values
    assert float(train_loss_results[-1]) < 0.6 * float(train_loss_results[0])
    assert max(float(a) for a in train_accuracy_results[-5:]) > 0.6  # chance is 1/3

    test_dataset = tf.data.experimental.make_csv_dataset(
        str(test_dataset_fp),
        batch_size,
        column_names=column_names,
        label_name="species",
        num_epochs=1,
        shuffle=False)
    test_dataset = test_dataset.map(pack_features_vector)
    test_accuracy = tf.keras.metrics.Accuracy()
    ds_test_batch = test_dataset
    for (x, y) in ds_test_batch:
        # training=False is needed only if there are layers with different
        # behavior during training versus inference (e.g. Dropout).
        logits = model(x, training=False)
        prediction = tf.math.argmax(logits, axis=1, output_type=tf.int32)
        test_accuracy(prediction, y)
    print(f"Test set accuracy: {test_accuracy.result():.3%}")
    want_accuracy = np.mean(np.argmax(_mlp(model.get_weights(), test_x), 1) == test_y)
    assert float(test_accuracy.result()) == pytest.approx(want_accuracy)
    assert want_accuracy > 0.5  # chance is 1/3; 25 epochs of SGD, not the guide's 201

    predict_dataset = tf.convert_to_tensor([
        [5.1, 3.3, 1.7, 0.5,],
        [5.9, 3.0, 4.2, 1.5,],
        [6.9, 3.1, 5.4, 2.1]
    ])
    # training=False is needed only if there are layers with different
    # behavior during training versus inference (e.g. Dropout).
    predictions = model(predict_dataset, training=False)
    named = []
    for i, logits in enumerate(predictions):
        class_idx = tf.math.argmax(logits).numpy()
        p = tf.nn.softmax(logits)[class_idx]
        name = class_names[class_idx]
        print(f"Example {i} prediction: {name} ({100*p:4.1f}%)")
        named.append(name)
    assert named[0] == "Iris setosa"  # the class set apart from the other two


def test_writing_a_training_loop_from_scratch_eager_then_tf_function_then_added_losses():
    # MNIST-like synthetic digits: 10 classes, each a noisy 784-pixel template
    rng = np.random.default_rng(0)
    templates = rng.uniform(size=(10, 784)).astype("float32")
    y_all = rng.integers(0, 10, size=448)
    x_all = (templates[y_all] + rng.normal(scale=0.5, size=(448, 784))).astype("float32")
    x_train, y_train, x_val, y_val = x_all[:384], y_all[:384], x_all[384:], y_all[384:]

    inputs = keras.Input(shape=(784,), name="digits")
    x1 = layers.Dense(64, activation="relu")(inputs)
    x2 = layers.Dense(64, activation="relu")(x1)
    outputs = layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    # Instantiate an optimizer.
    optimizer = keras.optimizers.SGD(learning_rate=5e-2)  # the guide's 1e-3, for 18 steps here
    # Instantiate a loss function.
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    # Prepare the training dataset.
    batch_size = 64
    train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    train_dataset = train_dataset.shuffle(buffer_size=1024).batch(batch_size)
    # Prepare the validation dataset.
    val_dataset = tf.data.Dataset.from_tensor_slices((x_val, y_val))
    val_dataset = val_dataset.batch(batch_size)

    # Prepare the metrics.
    train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
    val_acc_metric = keras.metrics.SparseCategoricalAccuracy()

    start = [jnp.asarray(w) for w in model.get_weights()]
    seen = []
    epochs = 2
    for epoch in range(epochs):
        print(f"\nStart of epoch {epoch}")
        # Iterate over the batches of the dataset.
        for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
            seen.append((x_batch_train, y_batch_train.astype(np.int32)))
            # Open a GradientTape to record the operations run
            # during the forward pass, which enables auto-differentiation.
            with tf.GradientTape() as tape:
                # Run the forward pass of the layer.
                logits = model(x_batch_train, training=True)  # Logits for this minibatch
                # Compute the loss value for this minibatch.
                loss_value = loss_fn(y_batch_train, logits)
            # Use the gradient tape to automatically retrieve
            # the gradients of the trainable variables with respect to the loss.
            grads = tape.gradient(loss_value, model.trainable_weights)
            # Run one step of gradient descent by updating
            # the value of the variables to minimize the loss.
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            # Update training metric.
            train_acc_metric.update_state(y_batch_train, logits)
            # Log every 2 batches.
            if step % 2 == 0:
                print(f"Training loss (for one batch) at step {step}: {float(loss_value):.4f}")
                print(f"Seen so far: {(step + 1) * batch_size} samples")
        # Display metrics at the end of each epoch.
        train_acc = train_acc_metric.result()
        print(f"Training acc over epoch: {float(train_acc):.4f}")
        # Reset training metrics at the end of each epoch
        train_acc_metric.reset_state()
        # Run a validation loop at the end of each epoch.
        for x_batch_val, y_batch_val in val_dataset:
            val_logits = model(x_batch_val, training=False)
            # Update val metrics
            val_acc_metric.update_state(y_batch_val, val_logits)
        val_acc = val_acc_metric.result()
        val_acc_metric.reset_state()
        print(f"Validation acc: {float(val_acc):.4f}")

    # the oracle: the same batches, in the order the loop saw them, through jax.grad SGD
    assert len(seen) == 12 and sorted(np.concatenate([y for _, y in seen[:6]])) == \
        sorted(y_train)  # each epoch holds every example once
    _, want = _sgd_replay(start, seen, 5e-2)
    for got, p in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, p, rtol=1e-3, atol=1e-5)
    val_want = np.mean(np.argmax(_mlp(model.get_weights(), x_val), 1) == y_val)
    assert float(val_acc) == pytest.approx(val_want)

    # Speeding-up your training step with tf.function
    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss_value = loss_fn(y, logits)
        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        train_acc_metric.update_state(y, logits)
        return loss_value

    @tf.function
    def test_step(x, y):
        val_logits = model(x, training=False)
        val_acc_metric.update_state(y, val_logits)

    seen = []
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        seen.append((x_batch_train, y_batch_train.astype(np.int32)))
        loss_value = train_step(x_batch_train, y_batch_train)
    for x_batch_val, y_batch_val in val_dataset:
        test_step(x_batch_val, y_batch_val)
    losses, want = _sgd_replay(want, seen, 5e-2)
    assert float(loss_value) == pytest.approx(losses[-1], rel=1e-3)
    for got, p in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, p, rtol=1e-3, atol=1e-5)
    val_want = np.mean(np.argmax(_mlp(model.get_weights(), x_val), 1) == y_val)
    assert float(val_acc_metric.result()) == pytest.approx(val_want)
    assert val_want > 0.5  # chance is 0.1

    # Low-level handling of losses tracked by the model
    class ActivityRegularizationLayer(layers.Layer):
        def call(self, inputs):
            self.add_loss(1e-2 * tf.reduce_sum(inputs))
            return inputs

    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu")(inputs)
    # Insert activity regularization as a layer
    x = ActivityRegularizationLayer()(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10, name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)

    # The guide's train_step for it (a tf.function there), its body run eagerly here on one
    # batch; an optimizer keeps per-variable state, so the new model gets its own (TF 2.11+'s
    # optimizers also refuse variables they were not built for)
    optimizer = keras.optimizers.SGD(learning_rate=5e-2)
    x, y = x_train[:64], y_train[:64].astype(np.int32)
    start = [jnp.asarray(w) for w in model.get_weights()]
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_fn(y, logits)
        # Add any extra losses created during the forward pass.
        loss_value += sum(model.losses)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))

    def regularized(params, x_, y_):
        hidden = jax.nn.relu(x_ @ params[0] + params[1])
        return _sparse_xent(params, x_, y_) + 1e-2 * jnp.sum(hidden)

    (want_loss,), want = _sgd_replay(start, [(x, y)], 5e-2, loss=regularized)
    assert float(loss_value) == pytest.approx(want_loss, rel=1e-5)
    for got, p in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, p, rtol=1e-4, atol=1e-6)
