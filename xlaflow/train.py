"""xf.train: checkpoints that resume training exactly (TF's tf.train namespace)."""

from xlaflow.saving.checkpoint import Checkpoint, CheckpointIntegrityError  # noqa: F401
from xlaflow.saving.checkpoint_manager import CheckpointManager, latest_checkpoint  # noqa: F401
from xlaflow.saving.checkpoint_reader import list_variables, load_variable  # noqa: F401
