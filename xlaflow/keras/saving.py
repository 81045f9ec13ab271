"""xf.keras.saving: save/load whole models and make custom classes loadable."""

from xlaflow.saving.keras_model import load_model as load_model
from xlaflow.saving.keras_model import save_model as save_model
from xlaflow.saving.serialization import custom_object_scope as custom_object_scope
from xlaflow.saving.serialization import (
    deserialize_keras_object as deserialize_keras_object,
)
from xlaflow.saving.serialization import get_custom_objects as get_custom_objects
from xlaflow.saving.serialization import get_registered_name as get_registered_name
from xlaflow.saving.serialization import get_registered_object as get_registered_object

# Keras 2.13+'s name for the decorator
from xlaflow.saving.serialization import (  # noqa: F401 -- re-exported
    register_serializable as register_keras_serializable,
)
from xlaflow.saving.serialization import register_serializable as register_serializable
from xlaflow.saving.serialization import serialize_keras_object as serialize_keras_object
