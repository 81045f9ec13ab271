"""keras.applications.mobilenet_v2: MobileNetV2 layer for layer and name for name as Keras
2.12 builds it, so Keras' released ImageNet .h5 weight files load into it."""

from __future__ import annotations

from xlaflow.keras import layers
from xlaflow.keras.applications import imagenet_utils
from xlaflow.models import Model

BASE_WEIGHT_PATH = ("https://storage.googleapis.com/tensorflow/"
                    "keras-applications/mobilenet_v2/")

_WEIGHT_ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)
_WEIGHT_ROWS = (96, 128, 160, 192, 224)


def _default_size(input_shape, input_tensor):
    """The size whose weights 'imagenet' loads: a square input of a size with weights,
    else 224 (from input_shape, or from input_tensor's shape when input_shape is None)."""
    if input_shape is not None and input_tensor is not None and \
            tuple(input_tensor.shape)[2] != tuple(input_shape)[1]:  # Keras compares these
        raise ValueError(f"input_shape: {input_shape} and input_tensor: {input_tensor} "
                             "do not meet the same shape requirements")
    shape = input_shape if input_shape is not None else (
        tuple(input_tensor.shape)[1:] if input_tensor is not None else None)
    if shape is None or len(shape) < 2:
        return 224
    rows, cols = shape[0], shape[1]
    return rows if rows == cols and rows in _WEIGHT_ROWS else 224


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
                input_tensor=None, pooling=None, classes=1000,
                classifier_activation="softmax", **kwargs):
    """MobileNetV2 (Sandler et al., 2018) of width `alpha`, optionally with Keras'
    ImageNet weights ('imagenet'), or the weights in a file path."""
    if kwargs:
        raise ValueError(f"Unknown argument(s): {kwargs}")
    imagenet_utils.check_weights_argument(weights, include_top, classes)
    if input_tensor is not None:
        imagenet_utils.image_input(input_tensor, None)  # its type, before any shape logic
    default_size = _default_size(input_shape, input_tensor)
    # as Keras, an input_tensor sets only the default size; input_shape stays None
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, data_format="channels_last",
        require_flatten=include_top, weights=weights)
    rows, cols = input_shape[0], input_shape[1]
    if weights == "imagenet":
        if alpha not in _WEIGHT_ALPHAS:
            raise ValueError("If imagenet weights are being loaded, alpha must be one of "
                             "`0.35`, `0.50`, `0.75`, `1.0`, `1.3` or `1.4` only; Received "
                             f"`alpha={alpha}`")
        if rows != cols or rows not in _WEIGHT_ROWS:
            rows = 224
            imagenet_utils.warn_default_weights()
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    elif pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max'; received {pooling!r}")

    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = layers.Conv2D(_make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2),
                      padding="same", use_bias=False, name="Conv1")(img_input)
    x = _bn("bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)

    # (filters, stride, expansion) of blocks 0..16, as in the paper's table 2
    plan = [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6),
            (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6),
            (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6), (320, 1, 6)]
    for block_id, (filters, stride, expansion) in enumerate(plan):
        x = _inverted_res_block(x, filters=filters, alpha=alpha, stride=stride,
                                expansion=expansion, block_id=block_id)

    # no alpha below 1 on the last convolution (the paper's choice); above 1 it widens
    last_block_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_block_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = _bn("Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)

    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)

    inputs = (imagenet_utils.source_inputs(input_tensor) if input_tensor is not None
              else img_input)
    model = Model(inputs, x, name=f"mobilenetv2_{alpha:0.2f}_{rows}")

    if weights == "imagenet":
        suffix = "" if include_top else "_no_top"
        model_name = (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_"
                      f"{rows}{suffix}.h5")
        from xlaflow.keras.file_download import get_file
        # Keras 2.12 pins no hash for these files
        weights_path = get_file(model_name, BASE_WEIGHT_PATH + model_name,
                                cache_subdir="models")
        model.load_weights(weights_path)
    elif weights is not None:
        model.load_weights(weights)
    return model


def _bn(name):
    return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    """Expand (1x1), depthwise 3x3, project (1x1, linear); a residual Add when the shape
    is kept. Block 0 has no expansion and Keras names it 'expanded_conv_'."""
    in_channels = inputs.shape[-1]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same",
                          use_bias=False, activation=None, name=prefix + "expand")(x)
        x = _bn(prefix + "expand_BN")(x)
        x = layers.ReLU(6.0, name=prefix + "expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3),
                                 name=prefix + "pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None,
                               use_bias=False, padding="same" if stride == 1 else "valid",
                               name=prefix + "depthwise")(x)
    x = _bn(prefix + "depthwise_BN")(x)
    x = layers.ReLU(6.0, name=prefix + "depthwise_relu")(x)
    x = layers.Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False,
                      activation=None, name=prefix + "project")(x)
    x = _bn(prefix + "project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=prefix + "add")([inputs, x])
    return x


def _make_divisible(v, divisor, min_value=None):
    """`v` rounded to a multiple of `divisor` (at least `min_value`), never more than 10%
    below `v` (the TF-slim MobileNet rule the checkpoints were trained with)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def preprocess_input(x, data_format=None):
    """Scale RGB images in [0, 255] to [-1, 1] (imagenet_utils mode 'tf')."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """imagenet_utils.decode_predictions."""
    return imagenet_utils.decode_predictions(preds, top=top)
