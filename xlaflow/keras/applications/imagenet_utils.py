"""keras.applications.imagenet_utils: ImageNet input preprocessing, prediction decoding and
the input-shape rules Keras 2.12's applications share (their errors included)."""

from __future__ import annotations

import json
import logging
import os
import warnings

import jax
import numpy as np

from xlaflow import activations, backend_config
from xlaflow.layers.symbolic import SymbolicTensor, is_symbolic

CLASS_INDEX = None
CLASS_INDEX_PATH = ("https://storage.googleapis.com/download.tensorflow.org/"
                    "data/imagenet_class_index.json")
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"  # MD5, as Keras 2.12 pins it

_CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR
_TORCH_MEAN, _TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _check_mode(mode, data_format):
    if mode not in {"caffe", "tf", "torch"}:
        raise ValueError("Expected mode to be one of `caffe`, `tf` or `torch`. "
                         f"Received: mode={mode}")
    if data_format is None:
        return backend_config.image_data_format()
    if data_format not in {"channels_first", "channels_last"}:
        raise ValueError("Expected data_format to be one of `channels_first` or "
                         f"`channels_last`. Received: data_format={data_format}")
    return data_format


def preprocess_input(x, data_format=None, mode="caffe"):
    """Scale a batch of RGB images in [0, 255] as the ImageNet weights expect: 'caffe'
    (RGB->BGR, minus the BGR mean), 'tf' (to [-1, 1]) or 'torch' ([0, 1], mean, std).

    As Keras, a floating NumPy array is written over (its values, through views); other
    NumPy arrays are first cast to floatx; tensors and symbolic tensors give new tensors.
    """
    data_format = _check_mode(mode, data_format)
    if isinstance(x, np.ndarray):
        return _preprocess_numpy(x, data_format, mode)
    return _preprocess_tensor(x, data_format, mode)


def _channel_shape(x, data_format):
    return (-1, 1, 1) if data_format == "channels_first" else (-1,)


def _bgr(x, data_format):
    if data_format == "channels_first":
        return x[::-1, ...] if x.ndim == 3 else x[:, ::-1, ...]
    return x[..., ::-1]


def _preprocess_numpy(x, data_format, mode):
    if not issubclass(x.dtype.type, np.floating):
        x = x.astype(backend_config.floatx(), copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        mean, std = _TORCH_MEAN, _TORCH_STD
    else:
        x = _bgr(x, data_format)
        mean, std = _CAFFE_MEAN, None
    shape = _channel_shape(x, data_format)
    x -= np.asarray(mean, x.dtype).reshape(shape)
    if std is not None:
        x /= np.asarray(std, x.dtype).reshape(shape)
    return x


def _preprocess_tensor(x, data_format, mode):
    from xlaflow import ops, tensors
    if not is_symbolic(x):
        x = tensors.convert_to_tensor(x)
    dtype = np.dtype(x.dtype)
    if dtype.kind != "f":  # TF would refuse x / 127.5 on integers: images are cast first
        dtype = np.dtype(backend_config.floatx())
        x = ops.cast(x, dtype)
    if mode == "tf":
        return x / np.asarray(127.5, dtype) - np.asarray(1.0, dtype)
    if mode == "torch":
        x = x / np.asarray(255.0, dtype)
        mean, std = _TORCH_MEAN, _TORCH_STD
    else:
        x = _bgr(x, data_format)
        mean, std = _CAFFE_MEAN, None
    shape = _channel_shape(x, data_format)
    x = x + tensors.constant(-np.asarray(mean, dtype).reshape(shape))
    if std is not None:
        x = x / tensors.constant(np.asarray(std, dtype).reshape(shape))
    return x


def decode_predictions(preds, top=5):
    """[[(wordnet id, class name, score), ...top...] per sample] of a (samples, 1000) batch
    of ImageNet predictions; the class index is downloaded once (keras.utils.get_file)."""
    global CLASS_INDEX
    preds = np.asarray(preds)
    if len(preds.shape) != 2 or preds.shape[1] != 1000:
        raise ValueError("`decode_predictions` expects a batch of predictions (i.e. a 2D "
                         "array of shape (samples, 1000)). Received array with shape: "
                         f"{preds.shape}")
    if CLASS_INDEX is None:
        from xlaflow.keras.file_download import get_file
        fpath = get_file("imagenet_class_index.json", CLASS_INDEX_PATH,
                         cache_subdir="models", file_hash=CLASS_INDEX_HASH)
        with open(fpath) as f:
            CLASS_INDEX = json.load(f)
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [(*CLASS_INDEX[str(i)], pred[i]) for i in top_indices]
        result.sort(key=lambda r: r[2], reverse=True)
        results.append(result)
    return results


def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten,
                       weights=None):
    """One image's input shape for an ImageNet model, checked by Keras 2.12's rules:
    'imagenet' weights with the top need exactly the default shape, 3 channels, and
    at least `min_size` pixels a side. The models are built channels-last: under
    set_image_data_format('channels_first') (where Keras builds channels-first ones)
    they refuse to build rather than differ."""
    if backend_config.image_data_format() == "channels_first":
        raise NotImplementedError(
            "keras.applications' models are built channels-last here, but "
            "keras.backend.image_data_format() is 'channels_first'; call "
            "keras.backend.set_image_data_format('channels_last') before building the "
            "model, and feed it (batch, height, width, channels) images")
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if data_format == "channels_first" else input_shape[-1]
        if channels not in {1, 3}:
            warnings.warn("This model usually expects 1 or 3 input channels. However, it "
                          f"was passed an input_shape with {channels} input channels.",
                          stacklevel=3)
        default_shape = ((channels, default_size, default_size)
                         if data_format == "channels_first"
                         else (default_size, default_size, channels))
    else:
        default_shape = ((3, default_size, default_size) if data_format == "channels_first"
                         else (default_size, default_size, 3))
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError("When setting `include_top=True` and loading `imagenet` "
                             f"weights, `input_shape` should be {default_shape}.  "
                             f"Received: input_shape={input_shape}")
        return default_shape
    if input_shape:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        first = data_format == "channels_first"
        channels = input_shape[0] if first else input_shape[-1]
        sides = input_shape[1:] if first else input_shape[:2]
        if channels != 3 and weights == "imagenet":
            raise ValueError("The input must have 3 channels; Received "
                             f"`input_shape={input_shape}`")
        if any(side is not None and side < min_size for side in sides):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: "
                             f"input_shape={input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if data_format == "channels_first" else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static "
                         f"`input_shape`. Received: input_shape={input_shape}")
    return input_shape


def correct_pad(inputs, kernel_size):
    """((top, bottom), (left, right)) zero padding before a stride-2 'valid' convolution
    that matches TF's 'same' padding of the original checkpoints."""
    size = tuple(inputs.shape)[1:3]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def validate_activation(classifier_activation, weights):
    """Pretrained top layers take only softmax or no activation (Keras' rule)."""
    if weights is None:
        return
    fn = activations.get(classifier_activation)
    if fn not in {activations.get("softmax"), activations.get(None)}:
        raise ValueError("Only `None` and `softmax` activations are allowed for the "
                         "`classifier_activation` argument when using pretrained weights, "
                         "with `include_top=True`; Received: "
                         f"classifier_activation={classifier_activation}")


def check_weights_argument(weights, include_top, classes):
    """Keras 2.12's checks of `weights` and `classes`, before any layer is built."""
    if not (weights in {"imagenet", None} or (isinstance(weights, (str, os.PathLike))
                                              and os.path.exists(weights))):
        raise ValueError("The `weights` argument should be either `None` (random "
                         "initialization), `imagenet` (pre-training on ImageNet), or the "
                         f"path to the weights file to be loaded.  Received: weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights` as `"imagenet"` with `include_top` as true, '
                         f"`classes` should be 1000.  Received: classes={classes}")


def image_input(input_tensor, input_shape):
    """The model's image tensor: a new Input of `input_shape`, or `input_tensor` (a
    symbolic tensor, e.g. another model's output)."""
    from xlaflow.layers.symbolic import Input
    if input_tensor is None:
        return Input(shape=input_shape)
    if not isinstance(input_tensor, SymbolicTensor):
        raise TypeError(f"input_tensor must be a Keras tensor (keras.Input(...) or a layer's "
                        f"output); received {type(input_tensor).__name__}. An array as "
                        "input_tensor (Keras' Input(tensor=...)) is not supported: pass "
                        "input_shape= and call the model on the array")
    return input_tensor


def source_inputs(tensor):
    """The Inputs `tensor` is computed from (Keras' layer_utils.get_source_inputs), in the
    order a depth-first walk meets them."""
    found, seen, stack = [], set(), [tensor]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        node = t.node
        if node is None:
            found.append(t)
            continue
        leaves = jax.tree_util.tree_leaves(node.inputs, is_leaf=is_symbolic)
        stack.extend(reversed([leaf for leaf in leaves if is_symbolic(leaf)]))
    return found[0] if len(found) == 1 else found


def warn_default_weights():
    logging.getLogger("xlaflow.keras.applications").warning(
        "`input_shape` is undefined or non-square, or `rows` is not in [96, 128, 160, "
        "192, 224]. Weights for input shape (224, 224) will be loaded as the default.")
