"""xf.distribute: TF's distribution strategies on JAX meshes (see strategy.py)."""

from xlaflow.distribute.strategy import InputContext as InputContext
from xlaflow.distribute.strategy import MirroredStrategy as MirroredStrategy
from xlaflow.distribute.strategy import ReduceOp as ReduceOp
from xlaflow.distribute.strategy import Strategy as Strategy
from xlaflow.distribute.strategy import get_strategy as get_strategy
from xlaflow.distribute.strategy import has_strategy as has_strategy
