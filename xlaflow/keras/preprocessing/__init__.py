"""xf.keras.preprocessing: Keras 2's NumPy-side preprocessing helpers (sequence padding,
time-series windows)."""

from xlaflow.keras.preprocessing import sequence as sequence
from xlaflow.keras.preprocessing.timeseries import (  # Keras 2 has it here too
    timeseries_dataset_from_array as timeseries_dataset_from_array,
)
