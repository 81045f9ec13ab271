"""xf.keras.mixed_precision."""

from xlaflow.loss_scale import LossScaleOptimizer as LossScaleOptimizer
from xlaflow.mixed_precision import Policy as Policy
from xlaflow.mixed_precision import global_policy as global_policy
from xlaflow.mixed_precision import set_global_policy as set_global_policy
