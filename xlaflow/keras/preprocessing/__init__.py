"""xf.keras.preprocessing: Keras 2's NumPy-side preprocessing helpers (sequence padding,
time-series windows, datasets from directories of images or text files)."""

from xlaflow.keras.preprocessing import sequence as sequence
from xlaflow.keras.preprocessing.image_dataset import (  # Keras 2 has both here too
    image_dataset_from_directory as image_dataset_from_directory,
)
from xlaflow.keras.preprocessing.text_dataset import (
    text_dataset_from_directory as text_dataset_from_directory,
)
from xlaflow.keras.preprocessing.timeseries import (  # Keras 2 has it here too
    timeseries_dataset_from_array as timeseries_dataset_from_array,
)
