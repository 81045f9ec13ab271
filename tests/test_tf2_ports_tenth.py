"""TF's distributed-training tutorials (TF 2.12 era) as whole programs, imports changed.

"Distributed training with Keras", "Custom training with tf.distribute.Strategy" and the
tf.distribute guide's small examples, run on the two host CPU devices tests/conftest.py
forces. Each program runs once under MirroredStrategy and once on one device (the default
strategy, or OneDeviceStrategy) from the same seed: data parallelism over the global batch
must give the one-device numbers; losses are checked against NumPy where they have closed
forms. MNIST and Fashion-MNIST are replaced by scikit-learn's 8x8 digits (offline, fast).
"""

import os

import numpy as np
import pytest

import xlaflow as tf

pytestmark = pytest.mark.two_devices


def _digits():
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images[..., None] * (255.0 / 16.0)).round().astype(np.uint8)
    labels = digits.target.astype(np.int64)
    # 1,024 training and 256 test examples: every batch below is full
    return (images[:1024], labels[:1024]), (images[1024:1280], labels[1024:1280])


def _keras_tutorial(strategy, workdir, capsys, BATCH_SIZE_PER_REPLICA):
    """"Distributed training with Keras", its cells in order (tfds -> NumPy digits);
    the per-replica batch is an argument so both runs share one global batch size."""
    tf.keras.utils.set_random_seed(0)
    (train_x, train_y), (test_x, test_y) = _digits()
    mnist_train = tf.data.Dataset.from_tensor_slices((train_x, train_y))
    mnist_test = tf.data.Dataset.from_tensor_slices((test_x, test_y))

    print(f'Number of devices: {strategy.num_replicas_in_sync}')
    BUFFER_SIZE = 10000
    BATCH_SIZE = BATCH_SIZE_PER_REPLICA * strategy.num_replicas_in_sync

    def scale(image, label):
        image = tf.cast(image, tf.float32)
        image /= 255
        return image, label

    train_dataset = mnist_train.map(scale).cache().shuffle(BUFFER_SIZE, seed=1) \
        .batch(BATCH_SIZE)
    eval_dataset = mnist_test.map(scale).batch(BATCH_SIZE)

    with strategy.scope():
        model = tf.keras.Sequential([
            tf.keras.layers.Conv2D(8, 3, activation='relu', input_shape=(8, 8, 1)),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(32, activation='relu'),
            tf.keras.layers.Dense(10)
        ])
        model.compile(loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      optimizer=tf.keras.optimizers.Adam(),
                      metrics=['accuracy'])

    checkpoint_dir = os.path.join(workdir, 'training_checkpoints')
    checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt_{epoch}")

    def decay(epoch):
        if epoch < 2:
            return 1e-2
        elif epoch >= 2 and epoch < 3:
            return 1e-3
        else:
            return 1e-4

    class PrintLR(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f'\nLearning rate for epoch {epoch + 1} is {model.optimizer.lr.numpy()}')

    callbacks = [
        tf.keras.callbacks.TensorBoard(log_dir=os.path.join(workdir, 'logs')),
        tf.keras.callbacks.ModelCheckpoint(filepath=checkpoint_prefix,
                                           save_weights_only=True),
        tf.keras.callbacks.LearningRateScheduler(decay),
        PrintLR()
    ]

    EPOCHS = 4
    history = model.fit(train_dataset, epochs=EPOCHS, callbacks=callbacks, verbose=0)
    printed = capsys.readouterr().out

    latest = tf.train.latest_checkpoint(checkpoint_dir)
    final_weights = model.get_weights()
    model.set_weights([np.zeros_like(w) for w in final_weights])
    model.load_weights(latest)
    eval_loss, eval_acc = model.evaluate(eval_dataset, verbose=0)

    path = os.path.join(workdir, 'saved_model/')
    model.save(path, save_format='tf')

    unreplicated_model = tf.keras.models.load_model(path)
    unreplicated_model.compile(
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=tf.keras.optimizers.Adam(), metrics=['accuracy'])
    unreplicated = unreplicated_model.evaluate(eval_dataset, verbose=0)

    with strategy.scope():
        replicated_model = tf.keras.models.load_model(path)
        replicated_model.compile(
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            optimizer=tf.keras.optimizers.Adam(), metrics=['accuracy'])
        replicated = replicated_model.evaluate(eval_dataset, verbose=0)
    return dict(printed=printed, history=history.history, latest=latest,
                checkpoints=sorted(os.listdir(checkpoint_dir)), final=final_weights,
                restored=model.get_weights(), eval=(eval_loss, eval_acc),
                unreplicated=unreplicated, replicated=replicated,
                logs=os.listdir(os.path.join(workdir, 'logs')), test=(test_x, test_y),
                predict=model.predict(eval_dataset, verbose=0))


def test_distributed_training_with_keras_tutorial(tmp_path, capsys):
    strategy = tf.distribute.MirroredStrategy()
    assert strategy.num_replicas_in_sync == 2
    mirrored = _keras_tutorial(strategy, str(tmp_path / "mirrored"), capsys, 32)
    single = _keras_tutorial(tf.distribute.get_strategy(), str(tmp_path / "single"),
                             capsys, 64)

    # the callbacks: the scheduler's rates, as PrintLR saw them after each epoch
    expected = [1e-2] * 2 + [1e-3] + [1e-4]
    for run in (mirrored, single):
        lines = [line for line in run["printed"].splitlines() if "Learning rate" in line]
        assert len(lines) == 4
        for epoch, (line, lr) in enumerate(zip(lines, expected)):
            assert line.startswith(f"Learning rate for epoch {epoch + 1} is ")
            assert float(line.rsplit(" ", 1)[1]) == pytest.approx(lr, rel=1e-6)
        np.testing.assert_allclose(run["history"]["lr"], expected, rtol=1e-6)
        # ModelCheckpoint wrote one checkpoint per epoch; the latest is epoch 4's, and
        # loading it brings back the weights fit ended with
        assert run["checkpoints"] == ["checkpoint", "ckpt_1", "ckpt_2", "ckpt_3", "ckpt_4"]
        assert run["latest"].endswith("ckpt_4")
        for a, b in zip(run["restored"], run["final"]):
            np.testing.assert_array_equal(a, b)
        assert run["logs"]  # TensorBoard wrote its train/ directory
        # evaluate's numbers against NumPy on the restored model's logits
        logits = run["predict"].astype(np.float64)
        labels = run["test"][1]
        log_softmax = logits - logits.max(1, keepdims=True)
        log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
        loss = -log_softmax[np.arange(len(labels)), labels].mean()
        acc = (logits.argmax(1) == labels).mean()
        assert run["eval"][0] == pytest.approx(loss, rel=1e-4)
        assert run["eval"][1] == pytest.approx(acc, abs=1e-6)
        assert acc > 0.85  # digits are easy: training really happened
        # the saved model evaluates the same with and without the strategy
        np.testing.assert_allclose(run["unreplicated"], run["eval"], rtol=1e-5)
        np.testing.assert_allclose(run["replicated"], run["eval"], rtol=1e-5)

    # data parallelism over the global batch = one device on the global batch
    np.testing.assert_allclose(mirrored["history"]["loss"], single["history"]["loss"],
                               rtol=2e-4)
    for a, b in zip(mirrored["final"], single["final"]):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)


def test_latest_checkpoint_finds_save_weights_directories(tmp_path):
    # TF's save_weights (TF format) names its prefix in the directory's `checkpoint` file,
    # so latest_checkpoint returns the newest ModelCheckpoint `ckpt_{epoch}` weights (it
    # used to return `<dir>/6`, orbax's reading of "ckpt_6" as step 6, which does not exist)
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    for epoch in (1, 2, 10, 3):  # the newest write wins, not the largest number
        model.save_weights(str(tmp_path / f"ckpt_{epoch}"))
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt_3")
    # weights named `checkpoint` leave the state file's name alone
    model.save_weights(str(tmp_path / "more" / "checkpoint"))
    assert os.path.isdir(tmp_path / "more" / "checkpoint")


def _custom_training_tutorial(strategy, workdir, BATCH_SIZE_PER_REPLICA):
    """"Custom training with tf.distribute.Strategy", its cells in order (Fashion-MNIST ->
    the digits); returns what it printed and computed."""
    tf.keras.utils.set_random_seed(0)
    (train_images, train_labels), (test_images, test_labels) = _digits()
    train_images = train_images / np.float32(255)
    test_images = test_images / np.float32(255)

    BUFFER_SIZE = len(train_images)
    GLOBAL_BATCH_SIZE = BATCH_SIZE_PER_REPLICA * strategy.num_replicas_in_sync
    EPOCHS = 3

    train_dataset = tf.data.Dataset.from_tensor_slices(
        (train_images, train_labels)).shuffle(BUFFER_SIZE, seed=2).batch(GLOBAL_BATCH_SIZE)
    test_dataset = tf.data.Dataset.from_tensor_slices(
        (test_images, test_labels)).batch(GLOBAL_BATCH_SIZE)
    train_dist_dataset = strategy.experimental_distribute_dataset(train_dataset)
    test_dist_dataset = strategy.experimental_distribute_dataset(test_dataset)

    def create_model():
        regularizer = tf.keras.regularizers.L2(1e-5)
        model = tf.keras.Sequential([
            tf.keras.layers.Conv2D(8, 3, activation='relu', kernel_regularizer=regularizer),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(32, activation='relu', kernel_regularizer=regularizer),
            tf.keras.layers.Dense(10, kernel_regularizer=regularizer)
        ])
        return model

    checkpoint_dir = os.path.join(workdir, 'training_checkpoints')
    checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt")

    with strategy.scope():
        loss_object = tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=True,
            reduction=tf.keras.losses.Reduction.NONE)

        def compute_loss(labels, predictions, model_losses):
            per_example_loss = loss_object(labels, predictions)
            loss = tf.nn.compute_average_loss(per_example_loss,
                                              global_batch_size=GLOBAL_BATCH_SIZE)
            if model_losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model_losses))
            return loss

    with strategy.scope():
        test_loss = tf.keras.metrics.Mean(name='test_loss')
        train_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name='train_accuracy')
        test_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name='test_accuracy')

    with strategy.scope():
        model = create_model()
        optimizer = tf.keras.optimizers.Adam(learning_rate=0.01)
        checkpoint = tf.train.Checkpoint(optimizer=optimizer, model=model)

    def train_step(inputs):
        images, labels = inputs
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
            loss = compute_loss(labels, predictions, model.losses)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        train_accuracy.update_state(labels, predictions)
        return loss

    def test_step(inputs):
        images, labels = inputs
        predictions = model(images, training=False)
        t_loss = loss_object(labels, predictions)
        test_loss.update_state(t_loss)
        test_accuracy.update_state(labels, predictions)

    @tf.function
    def distributed_train_step(dataset_inputs):
        per_replica_losses = strategy.run(train_step, args=(dataset_inputs,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_losses, axis=None)

    @tf.function
    def distributed_test_step(dataset_inputs):
        return strategy.run(test_step, args=(dataset_inputs,))

    epochs = []
    for epoch in range(EPOCHS):
        total_loss = 0.0
        num_batches = 0
        for x in train_dist_dataset:
            total_loss += distributed_train_step(x)
            num_batches += 1
        train_loss = total_loss / num_batches
        for x in test_dist_dataset:
            distributed_test_step(x)
        if epoch % 2 == 0:
            checkpoint.save(checkpoint_prefix)
        epochs.append((float(train_loss), float(train_accuracy.result()),
                       float(test_loss.result()), float(test_accuracy.result())))
        test_loss.reset_states()
        train_accuracy.reset_states()
        test_accuracy.reset_states()
    trained = model.get_weights()

    # Restore the latest checkpoint (epoch 3's, the second save) without the strategy
    eval_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name='eval_accuracy')
    new_model = create_model()
    new_optimizer = tf.keras.optimizers.Adam()
    test_dataset = tf.data.Dataset.from_tensor_slices(
        (test_images, test_labels)).batch(GLOBAL_BATCH_SIZE)

    @tf.function
    def eval_step(images, labels):
        predictions = new_model(images, training=False)
        eval_accuracy(labels, predictions)

    # TF restores into a model not yet built when it is first called (deferred
    # restoration); xlaflow needs its variables first, and says so
    new_model.build((None, 8, 8, 1))
    checkpoint = tf.train.Checkpoint(optimizer=new_optimizer, model=new_model)
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    checkpoint.restore(latest)
    for images, labels in test_dataset:
        eval_step(images, labels)
    restored = (latest, float(eval_accuracy.result()),
                np.asarray(new_model(test_images, training=False)))

    # Alternate ways of iterating: an iterator, `next` a fixed number of times
    iterated = []
    for _ in range(2):
        total_loss = 0.0
        num_batches = 0
        train_iter = iter(train_dist_dataset)
        for _ in range(4):
            total_loss += distributed_train_step(next(train_iter))
            num_batches += 1
        iterated.append(float(total_loss / num_batches))
    return dict(epochs=epochs, trained=trained, restored=restored, iterated=iterated,
                final=model.get_weights(), test=(test_images, test_labels))


def test_custom_training_with_distribute_strategy_tutorial(tmp_path):
    strategy = tf.distribute.MirroredStrategy()
    mirrored = _custom_training_tutorial(strategy, str(tmp_path / "mirrored"), 32)
    one = tf.distribute.OneDeviceStrategy(device="/cpu:0")
    assert one.num_replicas_in_sync == 1
    single = _custom_training_tutorial(one, str(tmp_path / "single"), 64)

    for run in (mirrored, single):
        losses = [e[0] for e in run["epochs"]]
        assert losses[-1] < 0.5 * losses[0]
        assert run["epochs"][-1][1] > 0.8 and run["epochs"][-1][3] > 0.85
        # the restored model is the last epoch's (saves after epochs 1 and 3): its accuracy
        # is the one that epoch's test loop measured, recomputed here with NumPy
        latest, eval_acc, logits = run["restored"]
        assert latest.endswith("ckpt-2")
        test_y = run["test"][1]
        assert eval_acc == pytest.approx((logits.argmax(1) == test_y).mean(), abs=1e-6)
        assert eval_acc == pytest.approx(run["epochs"][2][3], abs=1e-6)
        assert all(np.isfinite(run["iterated"]))

    # two replicas on half batches = one device on the whole batch, step for step
    np.testing.assert_allclose(np.array(mirrored["epochs"]), np.array(single["epochs"]),
                               rtol=2e-4, atol=1e-5)
    for key in ("trained", "final"):
        for a, b in zip(mirrored[key], single[key]):
            np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(mirrored["iterated"], single["iterated"], rtol=2e-4)


def test_metric_reset_states_is_reset_state():
    # TF 2.12's tutorials reset metrics with the older name; it calls reset_state, so a
    # subclass's own reset_state is the one that runs
    mean = tf.keras.metrics.Mean()
    mean.update_state([1.0, 2.0, 6.0])
    assert float(mean.result()) == 3.0
    mean.reset_states()
    assert float(mean.result()) == 0.0
    mean.update_state([4.0])
    assert float(mean.result()) == 4.0

    class Last(tf.keras.metrics.Metric):
        def __init__(self):
            super().__init__(name="last")
            self.value = self.add_weight(name="value")

        def update_state(self, x):
            self.value.assign(x)

        def result(self):
            return self.value.value

        def reset_state(self):
            self.value.assign(-1.0)

    last = Last()
    last.update_state(5.0)
    last.reset_states()
    assert float(last.result()) == -1.0


def test_iterating_a_distributed_dataset_inside_tf_function():
    # the custom-training tutorial's last cell: the epoch loop itself in a tf.function
    strategy = tf.distribute.MirroredStrategy()
    x_all = np.arange(32, dtype=np.float32).reshape(16, 2) / 16
    y_all = x_all @ np.array([[1.0], [-1.0]], np.float32)
    GLOBAL_BATCH_SIZE = 4
    dataset = tf.data.Dataset.from_tensor_slices((x_all, y_all)).batch(GLOBAL_BATCH_SIZE)
    train_dist_dataset = strategy.experimental_distribute_dataset(dataset)
    with strategy.scope():
        w = tf.Variable(np.zeros((2, 1), np.float32))
        optimizer = tf.keras.optimizers.SGD(0.5)

    def train_step(inputs):
        features, labels = inputs
        with tf.GradientTape() as tape:
            per_example_loss = tf.reduce_sum(tf.square(features @ w - labels), axis=1)
            loss = tf.nn.compute_average_loss(per_example_loss,
                                              global_batch_size=GLOBAL_BATCH_SIZE)
        optimizer.apply_gradients([(tape.gradient(loss, w), w)])
        return loss

    @tf.function
    def distributed_train_epoch(dataset):
        total_loss = 0.0
        num_batches = 0
        for x in dataset:
            per_replica_losses = strategy.run(train_step, args=(x,))
            total_loss += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_losses,
                                          axis=None)
            num_batches += 1
        return total_loss / tf.cast(num_batches, dtype=tf.float32)

    # TF compiles that loop into its graph; here the input pipeline runs on the host, so
    # it is refused (it used to fail on the inner dataset, naming xf.data.Dataset)
    with pytest.raises(NotImplementedError, match="distributed dataset cannot be iterated"):
        distributed_train_epoch(train_dist_dataset)

    @tf.function
    def distributed_train_step(dataset_inputs):
        per_replica_losses = strategy.run(train_step, args=(dataset_inputs,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_losses, axis=None)

    # ... and the error's recipe, the tutorial's first loop, trains as NumPy does
    total_loss, num_batches = 0.0, 0
    for x in train_dist_dataset:
        total_loss += distributed_train_step(x)
        num_batches += 1
    train_loss = total_loss / num_batches
    w_np, losses = np.zeros((2, 1)), []
    for i in range(0, 16, 4):
        xb, yb = x_all[i:i + 4].astype(np.float64), y_all[i:i + 4].astype(np.float64)
        err = xb @ w_np - yb
        losses.append((err ** 2).sum() / 4)
        w_np -= 0.5 * (2 * xb.T @ err / 4)
    assert float(train_loss) == pytest.approx(np.mean(losses), rel=1e-5)
    np.testing.assert_allclose(w.numpy(), w_np, rtol=1e-5, atol=1e-6)


def test_next_on_an_iterator_inside_tf_function_is_refused():
    # next() inside a traced function ran once, at trace time: every later call replayed
    # the first batch (a silent wrong result). Both kinds of iterator now refuse.
    strategy = tf.distribute.MirroredStrategy()
    dataset = tf.data.Dataset.from_tensor_slices(np.arange(8, dtype=np.float32)).batch(2)

    @tf.function
    def distributed_step(iterator):
        per_replica = strategy.run(tf.reduce_sum, args=(next(iterator),))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    @tf.function
    def step(iterator):
        return tf.reduce_sum(next(iterator))

    with pytest.raises(NotImplementedError, match="cannot be advanced with next"):
        distributed_step(iter(strategy.experimental_distribute_dataset(dataset)))
    with pytest.raises(TypeError, match="cannot be iterated inside a traced function"):
        step(iter(dataset))
    # outside a trace, each call gets the next batch: sums 1, 5, 9, 13
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    summed = tf.function(lambda x: strategy.reduce(
        "SUM", strategy.run(tf.reduce_sum, args=(x,)), axis=None))
    sums = [float(summed(next(iterator))) for _ in range(4)]
    assert sums == [1.0, 5.0, 9.0, 13.0]


def test_distribute_guide_default_strategy_and_one_device_strategy():
    # "Default Strategy": what get_strategy() returns outside any scope
    default_strategy = tf.distribute.get_strategy()
    assert default_strategy.num_replicas_in_sync == 1
    assert not tf.distribute.has_strategy()
    # In optimizer or other library code: get the currently active strategy
    strategy = tf.distribute.get_strategy()
    assert float(strategy.reduce("SUM", 1., axis=None)) == 1.0
    assert strategy.run(lambda x: x * 2, args=(tf.constant(3.),)) == 6.0
    # library code written for any strategy runs on the default one: one replica, whole
    # batches, losses averaged over the local batch
    dataset = tf.data.Dataset.range(4).map(lambda i: tf.cast(i, tf.float32)).batch(2)
    assert [np.asarray(b).tolist() for b in strategy.experimental_distribute_dataset(
        dataset)] == [[0.0, 1.0], [2.0, 3.0]]
    assert float(tf.nn.compute_average_loss(tf.constant([1., 3.]))) == 2.0
    assert float(tf.nn.scale_regularization_loss(tf.constant(4.))) == 4.0
    assert not tf.distribute.in_cross_replica_context()

    if tf.config.list_physical_devices('GPU'):
        strategy = tf.distribute.MirroredStrategy()
    else:  # Use the Default Strategy
        strategy = tf.distribute.get_strategy()
    with strategy.scope():
        v = tf.Variable(1.)
    assert float(v.numpy()) == 1.0

    # OneDeviceStrategy: variables and batches on the one device it names
    strategy = tf.distribute.OneDeviceStrategy(device="/cpu:1")
    with strategy.scope():
        v = tf.Variable([1., 2.])
        assert tf.distribute.get_strategy() is strategy
    import jax
    assert v.value.devices() == {jax.devices("cpu")[1]}
    dataset = tf.data.Dataset.from_tensor_slices(np.arange(6, dtype=np.float32)).batch(3)
    batches = list(strategy.experimental_distribute_dataset(dataset))
    assert [b.devices() for b in batches] == [{jax.devices("cpu")[1]}] * 2
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(
        lambda x: tf.reduce_sum(x * v[0]), args=(batches[1],)), axis=None)
    assert float(total) == 12.0

    # cross_device_ops: XLA picks the collectives; the guide's line says so (it was an
    # AttributeError: no such name)
    for name in ("HierarchicalCopyAllReduce", "NcclAllReduce", "ReductionToOneDevice"):
        with pytest.raises(NotImplementedError, match=f"{name} is not supported.*"
                                                      "cross_device_ops=None"):
            tf.distribute.MirroredStrategy(
                cross_device_ops=getattr(tf.distribute, name)())


def _guide_keras_and_custom_loop(mirrored_strategy):
    """The distribute guide's Keras and custom-loop cells, in order (the per-replica batch
    follows the replicas so that every run has the guide's global batch of 10)."""
    tf.keras.utils.set_random_seed(0)
    with mirrored_strategy.scope():
        model = tf.keras.Sequential([
            tf.keras.layers.Dense(1, input_shape=(1,),
                                  kernel_regularizer=tf.keras.regularizers.L2(1e-4))])
        model.compile(loss='mse', optimizer='sgd')
    dataset = tf.data.Dataset.from_tensors(([1.], [1.])).repeat(100).batch(10)
    fit_from_dataset = model.fit(dataset, epochs=2, verbose=0).history["loss"]
    evaluated = model.evaluate(dataset, verbose=0)
    inputs, targets = np.ones((100, 1)), np.ones((100, 1))
    fit_from_arrays = model.fit(inputs, targets, epochs=2, batch_size=10,
                                verbose=0).history["loss"]
    keras_weights = model.get_weights()

    BATCH_SIZE_PER_REPLICA = 10 // mirrored_strategy.num_replicas_in_sync
    global_batch_size = (BATCH_SIZE_PER_REPLICA *
                         mirrored_strategy.num_replicas_in_sync)
    LEARNING_RATES_BY_BATCH_SIZE = {5: 0.1, 10: 0.15, 20: 0.175}
    learning_rate = LEARNING_RATES_BY_BATCH_SIZE[global_batch_size]

    with mirrored_strategy.scope():
        model = tf.keras.Sequential([
            tf.keras.layers.Dense(1, input_shape=(1,),
                                  kernel_regularizer=tf.keras.regularizers.L2(1e-4))])
        optimizer = tf.keras.optimizers.SGD(learning_rate)
    initial = model.get_weights()

    dataset = tf.data.Dataset.from_tensors(([1.], [1.])).repeat(1000).batch(
        global_batch_size)
    dist_dataset = mirrored_strategy.experimental_distribute_dataset(dataset)

    loss_object = tf.keras.losses.BinaryCrossentropy(
        from_logits=True,
        reduction=tf.keras.losses.Reduction.NONE)

    def compute_loss(labels, predictions, model_losses):
        per_example_loss = loss_object(labels, predictions)
        loss = tf.nn.compute_average_loss(per_example_loss)
        if model_losses:
            loss += tf.nn.scale_regularization_loss(tf.add_n(model_losses))
        return loss

    def train_step(inputs):
        features, labels = inputs
        with tf.GradientTape() as tape:
            predictions = model(features, training=True)
            loss = compute_loss(labels, predictions, model.losses)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    @tf.function
    def distributed_train_step(dist_inputs):
        per_replica_losses = mirrored_strategy.run(train_step, args=(dist_inputs,))
        return mirrored_strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_losses,
                                        axis=None)

    losses = []
    for dist_inputs in dist_dataset:
        losses.append(float(distributed_train_step(dist_inputs)))
    iterator = iter(dist_dataset)
    for _ in range(10):
        losses.append(float(distributed_train_step(next(iterator))))
    return dict(fit_dataset=fit_from_dataset, evaluated=evaluated, fit_arrays=fit_from_arrays,
                keras_weights=keras_weights, initial=initial, losses=losses,
                learning_rate=learning_rate, custom_weights=model.get_weights())


def test_distribute_guide_keras_and_custom_loop():
    mirrored = _guide_keras_and_custom_loop(tf.distribute.MirroredStrategy())
    single = _guide_keras_and_custom_loop(tf.distribute.OneDeviceStrategy("/cpu:0"))
    for key in ("fit_dataset", "evaluated", "fit_arrays", "losses"):
        np.testing.assert_allclose(mirrored[key], single[key], rtol=1e-5, atol=1e-7)
    for key in ("keras_weights", "custom_weights"):
        for a, b in zip(mirrored[key], single[key]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)

    # NumPy: every example is x=1, y=1: logit z = k + b, the loss is softplus(-z) plus
    # 1e-4 k^2 (scale_regularization_loss over the replicas sums back to it once)
    k, b = (float(np.ravel(w)[0]) for w in mirrored["initial"])
    lr = mirrored["learning_rate"]
    assert lr == 0.15
    expected = []
    for _ in range(100 + 10):
        z = k + b
        expected.append(np.log1p(np.exp(-z)) + 1e-4 * k * k)
        dz = -1 / (1 + np.exp(z))
        k, b = k - lr * (dz + 2e-4 * k), b - lr * dz
    np.testing.assert_allclose(mirrored["losses"], expected, rtol=1e-4)
    np.testing.assert_allclose([np.ravel(w)[0] for w in mirrored["custom_weights"]], [k, b],
                               rtol=1e-4)


def test_distribute_datasets_from_function_with_input_context():
    # the distributed-input guide: one pipeline per worker, batched per replica
    mirrored_strategy = tf.distribute.MirroredStrategy()
    global_batch_size = 8
    seen = []

    def dataset_fn(input_context):
        seen.append((input_context.num_input_pipelines, input_context.input_pipeline_id,
                     input_context.num_replicas_in_sync))
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)
        d = tf.data.Dataset.range(32).map(lambda i: tf.cast(i, tf.float32))
        d = d.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        d = d.batch(batch_size)
        return d.prefetch(2)  # This prefetches 2 batches per device.

    dist_dataset = mirrored_strategy.distribute_datasets_from_function(dataset_fn)
    assert seen == [(1, 0, 2)]

    @tf.function
    def replica_sums(x):
        return mirrored_strategy.run(tf.reduce_sum, args=(x,))

    per_replica, totals = [], []
    for x in dist_dataset:
        sums = replica_sums(x)
        per_replica.append([float(s) for s in
                            mirrored_strategy.experimental_local_results(sums)])
        totals.append(float(mirrored_strategy.reduce("SUM", sums, axis=None)))
    # each replica gets its own consecutive per-replica batch of 4: replica 0 rows 0-3,
    # replica 1 rows 4-7, and so on
    rows = np.arange(32, dtype=np.float64).reshape(8, 4).sum(1)
    assert per_replica == rows.reshape(4, 2).tolist()
    assert totals == rows.reshape(4, 2).sum(1).tolist()

    # Keras fit reads the same distributed dataset (the guide's `model.fit(dist_dataset)`)
    def xy_fn(input_context):
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)
        x = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]
        return tf.data.Dataset.from_tensor_slices((x, 3 * x - 1)).batch(batch_size)

    with mirrored_strategy.scope():
        model = tf.keras.Sequential([tf.keras.Input((1,)), tf.keras.layers.Dense(1)])
        model.compile(optimizer=tf.keras.optimizers.SGD(0.5), loss='mse')
    model.fit(mirrored_strategy.distribute_datasets_from_function(xy_fn), epochs=20,
              verbose=0)
    np.testing.assert_allclose([float(np.ravel(w)[0]) for w in model.get_weights()],
                               [3.0, -1.0], atol=1e-3)

    with pytest.raises(ValueError, match="not divisible by 2 replicas"):
        tf.distribute.InputContext(1, 0, 2).get_per_replica_batch_size(7)


def test_checkpoint_written_on_one_device_restores_into_a_mirrored_model(tmp_path):
    # the reverse of the custom-training tutorial's restore: a one-device checkpoint,
    # restored into a model and optimizer created under MirroredStrategy.scope()
    import jax
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
    optimizer = tf.keras.optimizers.Adam(0.1)
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))

    train_step(x, y)
    path = tf.train.Checkpoint(optimizer=optimizer, model=model).save(
        str(tmp_path / "ckpt"))

    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        replicated = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
        new_optimizer = tf.keras.optimizers.Adam(0.1)
        new_optimizer.build(replicated.trainable_variables)
        checkpoint = tf.train.Checkpoint(optimizer=new_optimizer, model=replicated)
    checkpoint.restore(tf.train.latest_checkpoint(str(tmp_path))).assert_consumed()
    assert tf.train.latest_checkpoint(str(tmp_path)) == path
    for a, b in zip(replicated.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(new_optimizer.iterations.numpy()) == 1
    for w in replicated.weights:
        assert w.value.sharding.is_fully_replicated
        assert w.value.devices() == set(jax.devices()[:2])
