"""xf.keras.models."""

from xlaflow.models import Model as Model
from xlaflow.models import Sequential as Sequential
from xlaflow.models.cloning import clone_model as clone_model
from xlaflow.saving.keras_model import load_model as load_model
from xlaflow.saving.keras_model import model_from_json as model_from_json
from xlaflow.saving.keras_model import save_model as save_model
