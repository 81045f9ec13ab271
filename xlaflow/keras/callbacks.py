"""xf.keras.callbacks."""

from xlaflow.callbacks import (  # noqa: F401
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ReduceLROnPlateau,
    TensorBoard,
    TerminateOnNaN,
)
from xlaflow.checkpoint_callbacks import BackupAndRestore, ModelCheckpoint  # noqa: F401
