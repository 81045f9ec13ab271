"""The xlaflow demo, end to end as far as the project goes today (`make demo`).

The TF2 program users start from, with only its imports changed: load MNIST (or, offline,
the bundled handwritten digits in MNIST's format), train a Keras model with `fit`, evaluate
it. Then AutoGraph compiles a Python `while` on tensors into one XLA loop. Export and serving
extend this script as they land.
"""

from __future__ import annotations

import time

import xlaflow as tf
from xlaflow.keras import layers, models


def load_digits():
    try:
        data = tf.keras.datasets.mnist.load_data(timeout=10)
        print("data: MNIST (cached or downloaded)")
        return data
    except OSError as e:
        print(f"data: MNIST unavailable ({e.__cause__ or e}); using the offline handwritten "
              "digits (scikit-learn's set in MNIST's 28x28 format)")
        return tf.keras.datasets.digits.load_data()


def main():
    (x_train, y_train), (x_test, y_test) = load_digits()
    x_train, x_test = x_train / 255.0, x_test / 255.0

    model = models.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation='relu'),
        layers.Dense(10, activation='softmax')
    ])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=2)
    print(f"trained in {time.perf_counter() - start:.1f}s "
          f"({model.trainer._compiled_train_step.tracing_count} compiled step program(s))")
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test accuracy: {acc:.4f}")

    # AutoGraph: plain Python control flow on tensors compiles to XLA control flow.
    @tf.function
    def confident_prefix(probabilities, threshold):
        count = 0
        while count < probabilities.shape[0] and tf.reduce_max(probabilities[count]) > \
                threshold:
            count += 1
        return count

    probs = tf.constant(model.predict(x_test[:100], verbose=0))
    n = confident_prefix(probs, tf.constant(0.5))
    loops = {e.primitive.name for e in confident_prefix.get_concrete_function(
        probs, tf.constant(0.5)).jaxpr.eqns}
    print(f"AutoGraph: the first {int(n)} test predictions are confident (> 0.5), counted "
          f"by a Python `while` compiled to one XLA loop: {'while' in loops}")
    print("(model.save / export / serving: coming with the saving and serving issues)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
