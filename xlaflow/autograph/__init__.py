"""AutoGraph: Python control flow on tensors inside xf.function becomes XLA control flow."""

from xlaflow.autograph.api import ConversionError as ConversionError
from xlaflow.autograph.api import conversion_seconds as conversion_seconds
from xlaflow.autograph.api import do_not_convert as do_not_convert
from xlaflow.autograph.api import to_code as to_code
from xlaflow.autograph.api import to_graph as to_graph
