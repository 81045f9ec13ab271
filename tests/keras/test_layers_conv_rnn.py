"""Conv1DTranspose, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D and Conv3D against
NumPy loops (float and integer inputs), their weights, and their argument errors.

The oracles are written from the definitions, not from the layers' lax calls: a direct
cross-correlation (TensorFlow's 'same' padding), and the transposed convolution as the
scatter of every input position times the kernel, cropped by the padding of the forward
convolution it is the gradient of.
"""

import itertools

import numpy as np
import pytest

from xlaflow.keras import layers, regularizers

RNG = np.random.default_rng(11)


def _floats(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def correlate(x, k, strides, padding, dilation=None):
    """Cross-correlation of x (batch, *spatial, in) with k (*window, in, out), any rank."""
    rank = x.ndim - 2
    dilation = dilation or (1,) * rank
    window = tuple((n - 1) * d + 1 for n, d in zip(k.shape[:rank], dilation))
    dilated = np.zeros((*window, *k.shape[rank:]))
    dilated[tuple(slice(None, None, d) for d in dilation)] = k
    pads = [(0, 0)]
    for n, w, s in zip(x.shape[1:-1], window, strides):
        total = max((-(-n // s) - 1) * s + w - n, 0) if padding == "same" else 0
        pads.append((total // 2, total - total // 2))
    x = np.pad(x.astype(np.float64), pads + [(0, 0)])
    out_shape = [(n - w) // s + 1 for n, w, s in zip(x.shape[1:-1], window, strides)]
    out = np.zeros((x.shape[0], *out_shape, k.shape[-1]))
    for index in itertools.product(*map(range, out_shape)):
        patch = x[(slice(None), *(slice(i * s, i * s + w) for i, s, w in zip(
            index, strides, window)))]
        out[(slice(None), *index)] = np.tensordot(patch, dilated,
                                                  axes=(range(1, rank + 2), range(rank + 1)))
    return out


def transpose_length(n, k, s, padding, output_padding):
    """Keras 2's deconv_output_length (dilation 1)."""
    if output_padding is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    return (n - 1) * s + k - 2 * (k // 2 if padding == "same" else 0) + output_padding


def conv_transpose(x, k, strides, padding, output_padding=None, dilation=None):
    """x (batch, *spatial, in), k (*window, out, in): every input position scatters
    `x[i] @ k.T` at i * stride, then the crop of TensorFlow's forward-convolution padding."""
    rank = x.ndim - 2
    dilation = dilation or (1,) * rank
    output_padding = output_padding or (None,) * rank
    window = [(n - 1) * d + 1 for n, d in zip(k.shape[:rank], dilation)]
    full = np.zeros((x.shape[0], *[(n - 1) * s + w for n, s, w in zip(
        x.shape[1:-1], strides, window)], k.shape[-2]))
    for index in itertools.product(*map(range, x.shape[1:-1])):
        for tap in itertools.product(*map(range, k.shape[:rank])):
            at = tuple(i * s + t * d for i, s, t, d in zip(index, strides, tap, dilation))
            full[(slice(None), *at)] += x[(slice(None), *index)].astype(np.float64) @ k[tap].T
    crop = [slice(None)]
    for axis, (n, w, s, p) in enumerate(zip(x.shape[1:-1], window, strides, output_padding)):
        out = transpose_length(n, w, s, padding, p)
        before = max((n - 1) * s + w - out, 0) // 2 if padding == "same" else 0
        extra = max(before + out - full.shape[axis + 1], 0)  # output_padding beyond the end
        full = np.pad(full, [(0, extra) if a == axis + 1 else (0, 0) for a in range(full.ndim)])
        crop.append(slice(before, before + out))
    return full[tuple(crop)]


def depthwise(x, k, strides, padding, dilation=None):
    """Channel c convolved with k[..., c, m] gives output channel c * multiplier + m."""
    outs = [correlate(x[..., c:c + 1], k[..., c:c + 1, :], strides, padding, dilation)
            for c in range(x.shape[-1])]
    return np.concatenate(outs, axis=-1)


TOL = {"rtol": 1e-4, "atol": 1e-4}


# -- transposed convolutions ------------------------------------------------------------------
@pytest.mark.parametrize("kernel, strides, padding, output_padding, dilation, shape", [
    ((3, 2), (1, 1), "valid", None, (1, 1), (6, 5)),
    ((3, 3), (2, 2), "valid", None, (1, 1), (9, 9)),
    ((3, 2), (2, 2), "same", None, (1, 1), (8, 8)),
    ((1, 2), (3, 2), "valid", None, (1, 1), (12, 8)),  # kernel smaller than the stride
    ((3, 3), (2, 3), "same", (1, 2), (1, 1), (8, 12)),
    ((4, 3), (3, 2), "valid", (2, 1), (1, 1), (15, 10)),
    ((3, 2), (1, 1), "same", None, (2, 2), (4, 4)),
])
def test_conv2d_transpose_matches_the_scatter(kernel, strides, padding, output_padding,
                                              dilation, shape):
    x = _floats(2, 4, 4, 3)
    layer = layers.Conv2DTranspose(5, kernel, strides=strides, padding=padding,
                                   output_padding=output_padding, dilation_rate=dilation,
                                   bias_initializer="random_normal")
    out = np.asarray(layer(x))
    k, bias = layer.get_weights()
    assert k.shape == (*kernel, 5, 3) and bias.shape == (5,)
    assert out.shape == (2, *shape, 5)
    np.testing.assert_allclose(out, conv_transpose(x, k, strides, padding, output_padding,
                                                   dilation) + bias, **TOL)


@pytest.mark.parametrize("strides, padding, output_padding, length", [
    (1, "valid", None, 9), (3, "same", None, 18), (3, "valid", 2, 21), (2, "same", 1, 11)])
def test_conv1d_transpose_matches_the_scatter(strides, padding, output_padding, length):
    x = _floats(2, 6, 3)
    layer = layers.Conv1DTranspose(4, 4, strides=strides, padding=padding,
                                   output_padding=output_padding, activation="relu")
    out = np.asarray(layer(x))
    k, bias = layer.get_weights()
    assert k.shape == (4, 4, 3) and out.shape == (2, length, 4)
    expect = conv_transpose(x, k, (strides,), padding,
                            None if output_padding is None else (output_padding,)) + bias
    np.testing.assert_allclose(out, np.maximum(expect, 0), **TOL)


def test_conv2d_transpose_is_the_gradient_of_conv2d():
    """A second, algebraic oracle: <conv(y), x> == <y, conv_transpose(x)> with one kernel."""
    import jax

    x = _floats(1, 3, 3, 2)  # the transpose's input: conv2d's output
    layer = layers.Conv2DTranspose(4, 3, strides=2, padding="same", use_bias=False)
    k = layer(x) * 0  # build
    k = layer.get_weights()[0]  # (3, 3, 4, 2): conv2d from 4 channels to 2
    y = _floats(1, 6, 6, 4)
    conv = jax.lax.conv_general_dilated(y, k, (2, 2), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(np.sum(np.asarray(conv) * x), np.sum(y * np.asarray(layer(x))),
                               rtol=1e-4)


# -- depthwise and separable ------------------------------------------------------------------
@pytest.mark.parametrize("multiplier, strides, padding, dilation", [
    (1, (1, 1), "valid", (1, 1)), (2, (2, 1), "same", (1, 1)), (3, (1, 1), "same", (2, 1))])
def test_depthwise_conv2d_matches_numpy(multiplier, strides, padding, dilation):
    x = _floats(2, 7, 6, 3)
    layer = layers.DepthwiseConv2D((3, 2), strides=strides, padding=padding,
                                   depth_multiplier=multiplier, dilation_rate=dilation,
                                   bias_initializer="random_normal")
    out = layer(x)
    assert [w.name for w in layer.weights] == [f"{layer.name}/depthwise_kernel",
                                               f"{layer.name}/bias"]
    k, bias = layer.get_weights()
    assert k.shape == (3, 2, 3, multiplier) and bias.shape == (3 * multiplier,)
    np.testing.assert_allclose(out, depthwise(x, k, strides, padding, dilation) + bias, **TOL)


@pytest.mark.parametrize("multiplier, strides, padding", [(1, (1, 1), "valid"),
                                                          (2, (2, 2), "same")])
def test_separable_conv2d_matches_numpy(multiplier, strides, padding):
    x = _floats(2, 6, 5, 3)
    layer = layers.SeparableConv2D(4, 3, strides=strides, padding=padding,
                                   depth_multiplier=multiplier, activation="tanh",
                                   bias_initializer="random_normal")
    out = layer(x)
    assert [w.name.split("/")[1] for w in layer.weights] == [
        "depthwise_kernel", "pointwise_kernel", "bias"]
    dk, pk, bias = layer.get_weights()
    assert dk.shape == (3, 3, 3, multiplier) and pk.shape == (1, 1, 3 * multiplier, 4)
    expect = correlate(depthwise(x, dk, strides, padding), pk, (1, 1), "valid") + bias
    np.testing.assert_allclose(out, np.tanh(expect), **TOL)


@pytest.mark.parametrize("strides, padding", [((1, 1, 1), "valid"), ((2, 1, 2), "same")])
def test_conv3d_matches_numpy(strides, padding):
    x = _floats(2, 4, 5, 3, 2)
    layer = layers.Conv3D(3, (2, 3, 2), strides=strides, padding=padding)
    out = layer(x)
    k, bias = layer.get_weights()
    assert k.shape == (2, 3, 2, 2, 3) and layer.name.startswith("conv3d")
    np.testing.assert_allclose(out, correlate(x, k, strides, padding) + bias, **TOL)


# -- integer inputs: computed in the compute dtype, as Conv2D ---------------------------------
INTEGER_CASES = {
    "Conv1DTranspose": (lambda: layers.Conv1DTranspose(2, 3, strides=2, use_bias=False),
                        (2, 5, 3), lambda x, w: conv_transpose(x, w[0], (2,), "valid")),
    "Conv2DTranspose": (lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same",
                                                       use_bias=False),
                        (2, 3, 3, 3), lambda x, w: conv_transpose(x, w[0], (2, 2), "same")),
    "DepthwiseConv2D": (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False),
                        (2, 4, 4, 3), lambda x, w: depthwise(x, w[0], (1, 1), "valid")),
    "SeparableConv2D": (lambda: layers.SeparableConv2D(2, 3, use_bias=False), (2, 4, 4, 3),
                        lambda x, w: correlate(depthwise(x, w[0], (1, 1), "valid"), w[1],
                                               (1, 1), "valid")),
    "Conv3D": (lambda: layers.Conv3D(2, 2, use_bias=False), (2, 3, 3, 3, 3),
               lambda x, w: correlate(x, w[0], (1, 1, 1), "valid")),
}


@pytest.mark.parametrize("name", sorted(INTEGER_CASES))
@pytest.mark.parametrize("dtype", ["uint8", "int32"])
def test_integer_inputs_are_convolved_in_float(name, dtype):
    make, shape, oracle = INTEGER_CASES[name]
    x = RNG.integers(200, 256, shape).astype(dtype)  # sums of these wrap in uint8
    layer = make()
    out = layer(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, oracle(x, layer.get_weights()), rtol=1e-4, atol=1e-2)
    np.testing.assert_array_equal(out, layer(x.astype(np.float32)))


# -- arguments --------------------------------------------------------------------------------
@pytest.mark.parametrize("make, error, match", [
    (lambda: layers.Conv2DTranspose(2, 3, strides=2, output_padding=2), ValueError, (
     r"Conv2DTranspose: output_padding must be .*smaller than its stride "
     r"\(strides=\[2, 2\]\); received 2")),
    (lambda: layers.Conv1DTranspose(2, 3, output_padding=(0, 0)), ValueError,
     "output_padding must be None or 1 int"),
    (lambda: layers.Conv2DTranspose(2, 3, strides=2, dilation_rate=2), NotImplementedError,
     "strides=.*dilation_rate=.*strides=1 with the dilation"),
    (lambda: layers.SeparableConv2D(2, 3, data_format="NHWC"), ValueError,
     "SeparableConv2D: data_format must be 'channels_last' or 'channels_first'"),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), ValueError,
     "DepthwiseConv2D: depth_multiplier must be a positive integer; received 0"),
    (lambda: layers.SeparableConv2D(0, 3), ValueError,
     "SeparableConv2D: filters must be a positive integer; received 0"),
    (lambda: layers.Conv3D(2, (2, 2)), ValueError,
     r"kernel_size must be a positive int or a tuple of 3 positive ints; received \(2, 2\)"),
    (lambda: layers.Conv2DTranspose(2, 3, padding="causal"), ValueError,
     r"Conv2DTranspose: Causal padding is only supported for `Conv1D`"),
    (lambda: layers.Conv2DTranspose(2, 3, padding="full"), ValueError,
     "padding must be 'valid' or 'same'; received 'full'"),
    (lambda: layers.DepthwiseConv2D(3, depthwise_constraint="non_negative"), ValueError,
     "DepthwiseConv2D: depthwise_constraint: Unknown constraint 'non_negative'"),
    (lambda: layers.SeparableConv2D(2, 3, pointwise_constraint="l2"),
     ValueError, "pointwise_constraint: Unknown constraint 'l2'"),
    (lambda: layers.Conv2DTranspose(2, 3, activity_regularizer="l3"), ValueError,
     "Unknown regularizer 'l3'"),
    (lambda: layers.DepthwiseConv2D(3, kernel_regularizer="l2"), TypeError,
     r"unexpected keyword arguments \['kernel_regularizer'\]"),
])
def test_bad_arguments_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_same_padding_output_padding_tensorflow_refuses_is_named():
    layer = layers.Conv2DTranspose(2, 2, strides=2, padding="same", output_padding=0)
    with pytest.raises(ValueError, match=r"output_padding=\[0, 0\] with padding='same'.*"
                                         r"not the input's 3"):
        layer(_floats(1, 3, 3, 1))


def test_wrong_input_rank_is_named():
    with pytest.raises(ValueError, match=r"expects inputs of rank 4 \(batch, spatial, "
                                         r"spatial, channels\); received shape \(2, 5, 3\)"):
        layers.DepthwiseConv2D(3)(_floats(2, 5, 3))


def test_weight_regularizers_reach_their_weights():
    sep = layers.SeparableConv2D(2, 3, depthwise_regularizer=regularizers.L2(1.0),
                                 pointwise_regularizer=regularizers.L1(0.5),
                                 bias_regularizer=regularizers.L2(2.0),
                                 bias_initializer="ones")
    sep(_floats(1, 4, 4, 3))
    dk, pk, bias = sep.get_weights()
    np.testing.assert_allclose(sorted(float(p) for p in sep.losses), sorted(
        [(dk ** 2).sum(), 0.5 * np.abs(pk).sum(), 2.0 * (bias ** 2).sum()]), rtol=1e-5)
    config = sep.get_config()
    assert config["pointwise_regularizer"] == {"class_name": "L1", "config": {"l1": 0.5}}
    assert config["depthwise_constraint"] is None and "kernel_regularizer" not in config
    depth = layers.DepthwiseConv2D(2, depthwise_regularizer="l2")
    depth(_floats(1, 3, 3, 2))
    np.testing.assert_allclose(depth.losses, [0.01 * (depth.get_weights()[0] ** 2).sum()],
                               rtol=1e-5)
    transpose = layers.Conv2DTranspose(2, 3, kernel_regularizer="l1")
    transpose(_floats(1, 3, 3, 2))
    np.testing.assert_allclose(transpose.losses,
                               [0.01 * np.abs(transpose.get_weights()[0]).sum()], rtol=1e-5)


def test_keras_config_keys():
    assert set(layers.DepthwiseConv2D(3).get_config()) == {
        "name", "trainable", "dtype", "kernel_size", "strides", "padding", "data_format",
        "dilation_rate", "activation", "use_bias", "bias_initializer", "depth_multiplier",
        "depthwise_initializer", "depthwise_regularizer", "bias_regularizer",
        "activity_regularizer", "depthwise_constraint", "bias_constraint"}
    config = layers.Conv2DTranspose(4, 3, strides=2, output_padding=1).get_config()
    assert config["output_padding"] == [1, 1] and config["kernel_size"] == [3, 3]
    assert layers.Conv1DTranspose(4, 3).get_config()["output_padding"] is None
