"""keras.applications.resnet: ResNet50/101/152 (v1) layer for layer and name for name as
Keras 2.12 builds them, so Keras' released ImageNet .h5 weight files load into them."""

from __future__ import annotations

from xlaflow.keras import layers
from xlaflow.keras.applications import imagenet_utils
from xlaflow.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# MD5 of (with top, without top), as Keras 2.12 pins them
WEIGHTS_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
}

_BN_EPSILON = 1.001e-5


def ResNet(stack_fn, preact, use_bias, model_name="resnet", include_top=True,
           weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
           classes=1000, classifier_activation="softmax", **kwargs):
    """The ResNet stem, `stack_fn`'s residual stacks, and the top (Keras 2.12's builder;
    preact=True, the v2 variant's post-activation, is not provided)."""
    if kwargs:
        raise ValueError(f"Unknown argument(s): {kwargs}")
    if preact:
        raise NotImplementedError("ResNet(preact=True) (ResNetV2) is not provided by "
                                  "xlaflow; keras.applications has ResNet50, ResNet101, "
                                  "ResNet152 and MobileNetV2")
    imagenet_utils.check_weights_argument(weights, include_top, classes)
    if input_tensor is not None:
        imagenet_utils.image_input(input_tensor, None)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, data_format="channels_last",
        require_flatten=include_top, weights=weights)
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    elif pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max'; received {pooling!r}")

    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    x = _bn("conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack_fn(x)

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)

    inputs = (imagenet_utils.source_inputs(input_tensor) if input_tensor is not None
              else img_input)
    model = Model(inputs, x, name=model_name)

    if weights == "imagenet" and model_name in WEIGHTS_HASHES:
        if include_top:
            file_name = model_name + "_weights_tf_dim_ordering_tf_kernels.h5"
            file_hash = WEIGHTS_HASHES[model_name][0]
        else:
            file_name = model_name + "_weights_tf_dim_ordering_tf_kernels_notop.h5"
            file_hash = WEIGHTS_HASHES[model_name][1]
        from xlaflow.keras.file_download import get_file
        weights_path = get_file(file_name, BASE_WEIGHTS_PATH + file_name,
                                cache_subdir="models", file_hash=file_hash)
        model.load_weights(weights_path)
    elif weights is not None and weights != "imagenet":
        model.load_weights(weights)
    return model


def _bn(name):
    return layers.BatchNormalization(axis=3, epsilon=_BN_EPSILON, name=name)


def block1(x, filters, kernel_size=3, stride=1, conv_shortcut=True, name=None):
    """A bottleneck residual block: 1x1 (strided), kxk, 1x1 to 4*filters, plus the input
    (through a strided 1x1 projection when `conv_shortcut`)."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(x)
        shortcut = _bn(name + "_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = _bn(name + "_1_bn")(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)
    x = layers.Conv2D(filters, kernel_size, padding="SAME", name=name + "_2_conv")(x)
    x = _bn(name + "_2_bn")(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    x = _bn(name + "_3_bn")(x)
    x = layers.Add(name=name + "_add")([shortcut, x])
    return layers.Activation("relu", name=name + "_out")(x)


def stack1(x, filters, blocks, stride1=2, name=None):
    """`blocks` residual blocks named <name>_block1..., the first one projecting."""
    x = block1(x, filters, stride=stride1, name=name + "_block1")
    for i in range(2, blocks + 1):
        x = block1(x, filters, conv_shortcut=False, name=name + "_block" + str(i))
    return x


def _stacks(counts):
    def stack_fn(x):
        x = stack1(x, 64, counts[0], stride1=1, name="conv2")
        x = stack1(x, 128, counts[1], name="conv3")
        x = stack1(x, 256, counts[2], name="conv4")
        return stack1(x, 512, counts[3], name="conv5")
    return stack_fn


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
             pooling=None, classes=1000, **kwargs):
    """ResNet50 (He et al., 2015) with Keras' ImageNet weights ('imagenet') or a file's."""
    return ResNet(_stacks((3, 4, 6, 3)), False, True, "resnet50", include_top, weights,
                  input_tensor, input_shape, pooling, classes, **kwargs)


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
              pooling=None, classes=1000, **kwargs):
    """ResNet101: ResNet50's blocks, 23 in the conv4 stack."""
    return ResNet(_stacks((3, 4, 23, 3)), False, True, "resnet101", include_top, weights,
                  input_tensor, input_shape, pooling, classes, **kwargs)


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
              pooling=None, classes=1000, **kwargs):
    """ResNet152: ResNet50's blocks, 8 in conv3 and 36 in conv4."""
    return ResNet(_stacks((3, 8, 36, 3)), False, True, "resnet152", include_top, weights,
                  input_tensor, input_shape, pooling, classes, **kwargs)


def preprocess_input(x, data_format=None):
    """Convert RGB images in [0, 255] to BGR minus the ImageNet mean (mode 'caffe')."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """imagenet_utils.decode_predictions."""
    return imagenet_utils.decode_predictions(preds, top=top)
