"""AutoGraph: Python control flow on tensors inside xf.function (see api.py)."""

from xlaflow.autograph.api import do_not_convert as do_not_convert
