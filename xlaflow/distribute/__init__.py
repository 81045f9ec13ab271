"""xf.distribute: TF's distribution strategies on JAX meshes (see strategy.py,
multihost.py for several processes, layout.py for model parallelism)."""

from xlaflow.distribute.cross_device_ops import (
    HierarchicalCopyAllReduce as HierarchicalCopyAllReduce,
)
from xlaflow.distribute.cross_device_ops import NcclAllReduce as NcclAllReduce
from xlaflow.distribute.cross_device_ops import ReductionToOneDevice as ReductionToOneDevice
from xlaflow.distribute.input import InputContext as InputContext
from xlaflow.distribute.layout import LayoutMap as LayoutMap
from xlaflow.distribute.layout import ModelParallelStrategy as ModelParallelStrategy
from xlaflow.distribute.layout import make_mesh as make_mesh
from xlaflow.distribute.multihost import (
    MultiWorkerMirroredStrategy as MultiWorkerMirroredStrategy,
)
from xlaflow.distribute.multihost import TPUStrategy as TPUStrategy
from xlaflow.distribute.replica_context import ReplicaContext as ReplicaContext
from xlaflow.distribute.replica_context import get_replica_context as get_replica_context
from xlaflow.distribute.replica_context import get_strategy as get_strategy
from xlaflow.distribute.replica_context import has_strategy as has_strategy
from xlaflow.distribute.replica_context import (
    in_cross_replica_context as in_cross_replica_context,
)
from xlaflow.distribute.strategy import MirroredStrategy as MirroredStrategy
from xlaflow.distribute.strategy import OneDeviceStrategy as OneDeviceStrategy
from xlaflow.distribute.strategy import ReduceOp as ReduceOp
from xlaflow.distribute.strategy import Strategy as Strategy
from xlaflow.distribute.values import PerReplica as PerReplica
from xlaflow.distribute.values import ValueContext as ValueContext
