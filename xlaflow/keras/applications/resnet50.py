"""keras.applications.resnet50 (Keras 2's module name): ResNet50 and its preprocessing."""

from xlaflow.keras.applications.resnet import (  # noqa: F401 -- re-exported
    ResNet50,
    decode_predictions,
    preprocess_input,
)
