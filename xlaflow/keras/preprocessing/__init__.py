"""xf.keras.preprocessing: Keras 2's NumPy-side preprocessing helpers (sequence padding)."""

from xlaflow.keras.preprocessing import sequence as sequence
