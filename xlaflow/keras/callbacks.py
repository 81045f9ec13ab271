"""xf.keras.callbacks."""

from xlaflow.callbacks import (  # noqa: F401
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    TerminateOnNaN,
)
from xlaflow.checkpoint_callbacks import BackupAndRestore, ModelCheckpoint  # noqa: F401
from xlaflow.rate_callbacks import LearningRateScheduler, ReduceLROnPlateau  # noqa: F401
from xlaflow.tensorboard_callback import TensorBoard  # noqa: F401
