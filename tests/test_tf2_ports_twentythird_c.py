"""The twenty-third round, part c (see test_tf2_ports_twentythird.py): TF's guide "Introduction
to graphs and tf.function" (TF 2.12) as written, imports changed, except where a line says why
(test_tf2_ports_eighth.py has the other guide, "Better performance with tf.function").

What xlaflow lacks, each at its line: a concrete function has no `.graph` GraphDef (its program
is StableHLO: `.as_text()`). `tf.pow` was missing at the top level, eager `tf.gather` did
not refuse an index out of range (TF raises InvalidArgumentError on CPU) and Function had no
`pretty_printed_concrete_signatures()`; all three are fixed.

Oracles: NumPy (matmul, relu, the MSE, the matrix power) and the guide's printed trace counts.
"""

import os
import timeit

import numpy as np
import pytest

import xlaflow as tf


@pytest.fixture(autouse=True)
def _seeded():
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))
    yield
    tf.config.run_functions_eagerly(False)  # the guide turns it back off; a failure may not


def test_pow_is_the_top_level_alias_of_math_pow():
    # TF documents tf.pow as tf.math.pow's main alias, with this example
    assert tf.pow is tf.math.pow
    np.testing.assert_array_equal(
        tf.pow(tf.constant([[2, 2], [3, 3]]), tf.constant([[8, 16], [2, 3]])),
        [[256, 65536], [9, 27]])
    np.testing.assert_allclose(tf.pow(tf.constant([1.5, 4.0]), 0.5), np.sqrt([1.5, 4.0]))


def test_taking_advantage_of_graphs(capsys):
    # Define a Python function.
    def a_regular_function(x, y, b):
        x = tf.matmul(x, y)
        x = x + b
        return x

    # `a_function_that_uses_a_graph` is a TensorFlow `Function`.
    a_function_that_uses_a_graph = tf.function(a_regular_function)

    # Make some tensors.
    x1 = tf.constant([[1.0, 2.0]])
    y1 = tf.constant([[2.0], [3.0]])
    b1 = tf.constant(4.0)

    orig_value = a_regular_function(x1, y1, b1).numpy()
    # Call a `Function` like a Python function.
    tf_function_value = a_function_that_uses_a_graph(x1, y1, b1).numpy()
    assert (orig_value == tf_function_value)
    np.testing.assert_array_equal(orig_value, [[12.0]])  # 1*2 + 2*3 + 4

    def inner_function(x, y, b):
        x = tf.matmul(x, y)
        x = x + b
        return x

    # Use the decorator to make `outer_function` a `Function`.
    @tf.function
    def outer_function(x):
        y = tf.constant([[2.0], [3.0]])
        b = tf.constant(4.0)

        return inner_function(x, y, b)

    # Note that the callable will create a graph that
    # includes `inner_function` as well as `outer_function`.
    np.testing.assert_array_equal(outer_function(tf.constant([[1.0, 2.0]])).numpy(), [[12.0]])

    def simple_relu(x):
        if tf.greater(x, 0):
            return x
        else:
            return 0

    # `tf_simple_relu` is a TensorFlow `Function` that wraps `simple_relu`.
    tf_simple_relu = tf.function(simple_relu)

    print("First branch, with graph:", tf_simple_relu(tf.constant(1)).numpy())
    print("Second branch, with graph:", tf_simple_relu(tf.constant(-1)).numpy())
    assert capsys.readouterr().out == ("First branch, with graph: 1\n"
                                       "Second branch, with graph: 0\n")

    # This is the graph-generating output of AutoGraph.
    print(tf.autograph.to_code(simple_relu))
    assert "if_stmt" in capsys.readouterr().out  # the `if` became a conditional on a tensor

    # This is the graph itself.
    # xlaflow builds no GraphDef, and says so, naming the forms its program has
    with pytest.raises(NotImplementedError, match=r"\.graph is not provided.*\.as_text\(\)"):
        print(tf_simple_relu.get_concrete_function(tf.constant(1)).graph.as_graph_def())
    print(tf_simple_relu.get_concrete_function(tf.constant(1)).as_text())
    graph = capsys.readouterr().out  # tf.greater(x, 0) and the branches, compiled
    assert "stablehlo.compare GT" in graph and "stablehlo.case" in graph


def test_polymorphism_and_graph_execution(capsys):
    @tf.function
    def my_relu(x):
        return tf.maximum(0., x)

    # `my_relu` creates new graphs as it observes more signatures.
    print(my_relu(tf.constant(5.5)))
    print(my_relu([1, -1]))
    print(my_relu(tf.constant([3., -3.])))
    assert my_relu.experimental_get_tracing_count() == 3
    # These two calls do *not* create new graphs.
    print(my_relu(tf.constant(-2.5)))  # Signature matches `tf.constant(5.5)`.
    print(my_relu(tf.constant([-1., 1.])))  # Signature matches `tf.constant([3., -3.])`.
    assert my_relu.experimental_get_tracing_count() == 3
    assert capsys.readouterr().out == "5.5\n[1. 0.]\n[3. 0.]\n0.0\n[0. 1.]\n"
    print(my_relu.pretty_printed_concrete_signatures())
    # the guide's printed text (TF 2.12)
    assert capsys.readouterr().out == (
        "my_relu(x)\n  Args:\n    x: float32 Tensor, shape=()\n  Returns:\n"
        "    float32 Tensor, shape=()\n\n"
        "my_relu(x=[1, -1])\n  Returns:\n    float32 Tensor, shape=(2,)\n\n"
        "my_relu(x)\n  Args:\n    x: float32 Tensor, shape=(2,)\n  Returns:\n"
        "    float32 Tensor, shape=(2,)\n")

    x = tf.random.uniform(shape=[10, 10], minval=-1, maxval=2, dtype=tf.dtypes.int32)

    def power(x, y):
        result = tf.eye(10, dtype=tf.dtypes.int32)
        for _ in range(y):
            result = tf.matmul(x, result)
        return result

    # number=1000 in the guide: a test times 3 runs of each
    print("Eager execution:", timeit.timeit(lambda: power(x, 100), number=3), "seconds")
    power_as_graph = tf.function(power)
    print("Graph execution:", timeit.timeit(lambda: power_as_graph(x, 100), number=3), "seconds")
    expected = np.linalg.matrix_power(np.asarray(x, np.int64), 100).astype(np.int32)  # wraps
    np.testing.assert_array_equal(power(x, 100), expected)
    np.testing.assert_array_equal(power_as_graph(x, 100), expected)
    assert power_as_graph.experimental_get_tracing_count() == 1


def test_functions_and_eager_execution(capsys):
    @tf.function
    def get_MSE(y_true, y_pred):
        sq_diff = tf.pow(y_true - y_pred, 2)
        return tf.reduce_mean(sq_diff)

    y_true = tf.random.uniform([5], maxval=10, dtype=tf.int32)
    y_pred = tf.random.uniform([5], maxval=10, dtype=tf.int32)
    print(y_true)
    print(y_pred)
    squares = (np.asarray(y_true) - np.asarray(y_pred)) ** 2
    # TF's mean of int32 is int32, the sum // 5 (the squares' sum is never negative)
    mse = get_MSE(y_true, y_pred)
    assert mse.dtype == tf.int32 and mse == squares.sum() // 5

    tf.config.run_functions_eagerly(True)
    mse = get_MSE(y_true, y_pred)
    assert mse.dtype == tf.int32 and mse == squares.sum() // 5
    # Don't forget to set it back when you are done.
    tf.config.run_functions_eagerly(False)

    @tf.function
    def get_MSE(y_true, y_pred):  # the guide redefines it, now printing when traced
        print("Calculating MSE!")
        sq_diff = tf.pow(y_true - y_pred, 2)
        return tf.reduce_mean(sq_diff)

    capsys.readouterr()
    error = get_MSE(y_true, y_pred)
    error = get_MSE(y_true, y_pred)
    error = get_MSE(y_true, y_pred)
    assert capsys.readouterr().out == "Calculating MSE!\n"  # once: only the trace prints

    # Now, globally set everything to run eagerly to force eager execution.
    tf.config.run_functions_eagerly(True)
    # Observe what is printed below.
    error = get_MSE(y_true, y_pred)
    error = get_MSE(y_true, y_pred)
    error = get_MSE(y_true, y_pred)
    assert capsys.readouterr().out == "Calculating MSE!\n" * 3
    assert error.dtype == tf.int32 and error == squares.sum() // 5
    tf.config.run_functions_eagerly(False)

    def unused_return_eager(x):
        # Get index 1 will fail when `len(x) == 1`
        tf.gather(x, [1])  # unused
        return x

    capsys.readouterr()
    try:
        print(unused_return_eager(tf.constant([0.0])))
    except tf.errors.InvalidArgumentError as e:
        # All operations are run during eager execution so an error is raised.
        print(f'{type(e).__name__}: {e}')
    assert capsys.readouterr().out == \
        "InvalidArgumentError: indices[0] = 1 is not in [0, 1) [Op:GatherV2]\n"

    @tf.function
    def unused_return_graph(x):
        tf.gather(x, [1])  # unused
        return x

    # Only needed operations are run during graph execution. The error is not raised.
    np.testing.assert_array_equal(unused_return_graph(tf.constant([0.0])), [0.0])

    @tf.function
    def a_function_with_python_side_effect(x):
        print("Tracing!")  # An eager-only side effect.
        return x * x + tf.constant(2)

    capsys.readouterr()
    # This is traced the first time.
    print(a_function_with_python_side_effect(tf.constant(2)))
    # The second time through, you won't see the side effect.
    print(a_function_with_python_side_effect(tf.constant(3)))
    # This retraces each time the Python argument changes,
    # as a Python argument could be an epoch count or other
    # hyperparameter.
    print(a_function_with_python_side_effect(2))
    print(a_function_with_python_side_effect(3))
    assert capsys.readouterr().out == "Tracing!\n6\n11\nTracing!\n6\nTracing!\n11\n"
