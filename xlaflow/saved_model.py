"""xf.saved_model: export xf.functions and Keras models; load and run them without their
Python code (TF's tf.saved_model). The directory format is described in docs/saved_model.md.
"""

from xlaflow.saving.atomic import CorruptSaveError as CorruptSaveError
from xlaflow.saving.export import DEFAULT_PLATFORMS as DEFAULT_PLATFORMS
from xlaflow.saving.export import DEFAULT_SIGNATURE as DEFAULT_SIGNATURE
from xlaflow.saving.export import save as save
from xlaflow.saving.loaded import InputError as InputError
from xlaflow.saving.loaded import LoadedModel as LoadedModel
from xlaflow.saving.loaded import Signature as Signature
from xlaflow.saving.loaded import load as load
