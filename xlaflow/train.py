"""xf.train: checkpoints that resume training exactly, and the tf.train.Example protos
(TF's tf.train namespace)."""

from xlaflow.io.protos import (  # noqa: F401  (TF's tf.train.Example protos)
    BytesList,
    Example,
    Feature,
    FeatureList,
    FeatureLists,
    Features,
    FloatList,
    Int64List,
    SequenceExample,
)
from xlaflow.saving.checkpoint import Checkpoint, CheckpointIntegrityError  # noqa: F401
from xlaflow.saving.checkpoint_manager import CheckpointManager, latest_checkpoint  # noqa: F401
from xlaflow.saving.checkpoint_reader import (  # noqa: F401
    CheckpointReader,
    list_variables,
    load_checkpoint,
    load_variable,
)
